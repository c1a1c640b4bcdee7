package io.metako.proxy.fuzz;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.metako.proxy.LeakTracker;
import io.metako.proxy.protocol.CancelRequest;
import io.metako.proxy.protocol.Frame;
import io.metako.proxy.protocol.FrontendFrameDecoder;
import io.metako.proxy.protocol.ProtocolException;
import io.metako.proxy.protocol.StartupMessage;
import io.metako.proxy.route.StatementClassifier;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import org.junit.jupiter.api.AfterAll;

/**
 * What a stranger's bytes can do to the proxy before and after a login: the frontend decoder must cut any
 * input into frames or refuse it with a {@link ProtocolException}, never another exception, never a leaked
 * buffer; the startup and cancel parsers likewise; and the SQL classifier must classify any text. In the
 * default suite Jazzer replays the seed corpus (src/test/resources/.../FrontendFuzzTestInputs); with
 * {@code JAZZER_FUZZ=1} (scripts/fuzz) it fuzzes, guided by coverage, and keeps what it finds.
 */
class FrontendFuzzTest {
    @AfterAll
    static void noLeaks() throws InterruptedException {
        LeakTracker.assertNoLeaks();
    }

    @FuzzTest(maxDuration = "30s")
    void anyBytesAreFramedOrRefused(FuzzedDataProvider data) {
        boolean loggedIn = data.consumeBoolean();
        int maxMessage = data.consumeInt(1024, 1 << 20);
        FrontendFrameDecoder decoder = new FrontendFrameDecoder(maxMessage);
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        try {
            while (data.remainingBytes() > 0) {
                byte[] chunk = data.consumeBytes(data.consumeInt(1, 4096)); // as the network splits them
                if (loggedIn && data.consumeBoolean()) {
                    decoder.authenticated();
                }
                try {
                    ch.writeInbound(Unpooled.wrappedBuffer(chunk));
                } catch (DecoderException e) {
                    assertThat(e.getCause()).as("the only way to refuse bytes").isInstanceOf(ProtocolException.class);
                    return;
                }
                for (Object o; (o = ch.readInbound()) != null; ) {
                    inspect((Frame) o, maxMessage);
                }
            }
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    private static void inspect(Frame f, int maxMessage) {
        try {
            assertThat(f.payload().readableBytes()).isLessThanOrEqualTo(Math.max(maxMessage, FrontendFrameDecoder.MAX_STARTUP_LENGTH));
            if (f.type() == Frame.UNTYPED && f.payload().readableBytes() >= 4) {
                int code = f.payload().getInt(f.payload().readerIndex());
                try {
                    if (code == FrontendFrameDecoder.CANCEL_REQUEST) {
                        CancelRequest.parse(f.payload());
                    } else if (code != FrontendFrameDecoder.SSL_REQUEST && code != FrontendFrameDecoder.GSSENC_REQUEST) {
                        StartupMessage.parse(f.payload());
                    }
                } catch (ProtocolException expected) {
                    // a malformed startup packet is refused by name: fine
                }
            }
        } finally {
            f.release();
        }
    }

    @FuzzTest(maxDuration = "30s")
    void anySqlIsClassified(String sql) {
        if (sql == null) {
            return; // Jazzer also tries null; the proxy never classifies a missing statement
        }
        assertThat(StatementClassifier.classify(sql)).isNotNull();
        StatementClassifier.deallocation(sql);
        assertThat(StatementClassifier.sessionStatements(sql)).isNotNull();
    }
}

package io.metako.proxy.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The frame decoder in an EmbeddedChannel; every frame is released and checked (leak detector: paranoid). */
class FrontendFrameDecoderTest {
    private final FrontendFrameDecoder decoder = new FrontendFrameDecoder(1 << 20);
    private final EmbeddedChannel channel = new EmbeddedChannel(decoder);
    private final List<Frame> received = new ArrayList<>();

    @AfterEach
    void everyBufferReleased() {
        for (Frame f : received) {
            assertThat(f.refCnt()).as("frame released by the test").isZero();
        }
        channel.finishAndReleaseAll();
    }

    static ByteBuf startup(String... params) {
        ByteBuf body = Unpooled.buffer().writeInt(FrontendFrameDecoder.PROTOCOL_3_0);
        for (String p : params) {
            body.writeCharSequence(p, StandardCharsets.UTF_8);
            body.writeByte(0);
        }
        body.writeByte(0);
        ByteBuf msg = Unpooled.buffer().writeInt(body.readableBytes() + 4).writeBytes(body);
        body.release();
        return msg;
    }

    static ByteBuf query(String sql) {
        byte[] s = sql.getBytes(StandardCharsets.UTF_8);
        return Unpooled.buffer().writeByte('Q').writeInt(4 + s.length + 1).writeBytes(s).writeByte(0);
    }

    private Frame next() {
        Frame f = channel.readInbound();
        if (f != null) {
            received.add(f);
        }
        return f;
    }

    @Test
    void startupThenTypedMessages() {
        channel.writeInbound(startup("user", "app", "database", "shop"));
        Frame s = next();
        assertThat(s.type()).isEqualTo(Frame.UNTYPED);
        StartupMessage m = StartupMessage.parse(s.payload());
        s.release();
        assertThat(m.user()).isEqualTo("app");
        assertThat(m.database()).isEqualTo("shop");

        channel.writeInbound(query("SELECT 1"));
        Frame q = next();
        assertThat((char) q.type()).isEqualTo('Q');
        assertThat(q.payload().toString(StandardCharsets.UTF_8)).isEqualTo("SELECT 1\0");
        q.release();
    }

    @Test
    void sslRequestKeepsTheStartupPhase() {
        channel.writeInbound(Unpooled.buffer().writeInt(8).writeInt(FrontendFrameDecoder.SSL_REQUEST));
        Frame ssl = next();
        assertThat(ssl.payload().getInt(0)).isEqualTo(FrontendFrameDecoder.SSL_REQUEST);
        ssl.release();
        channel.writeInbound(startup("user", "app"));
        Frame s = next();
        assertThat(StartupMessage.parse(s.payload()).database()).as("database defaults to the user").isEqualTo("app");
        s.release();
    }

    @Test
    void cancelRequestIsParsed() {
        channel.writeInbound(Unpooled.buffer().writeInt(16).writeInt(FrontendFrameDecoder.CANCEL_REQUEST)
                .writeInt(4242).writeInt(99));
        Frame c = next();
        assertThat(CancelRequest.parse(c.payload())).isEqualTo(new CancelRequest(4242, 99));
        c.release();
    }

    @Test
    void bytesArrivingOneAtATimeMakeTheSameFrames() {
        ByteBuf all = Unpooled.buffer();
        ByteBuf s = startup("user", "u");
        ByteBuf q1 = query("SELECT 1");
        ByteBuf q2 = query("SELECT 22");
        all.writeBytes(s).writeBytes(q1).writeBytes(q2);
        s.release();
        q1.release();
        q2.release();
        while (all.isReadable()) {
            channel.writeInbound(all.readRetainedSlice(1));
        }
        all.release();
        List<String> seen = new ArrayList<>();
        Frame f;
        while ((f = next()) != null) {
            seen.add(f.type() == 0 ? "startup" : (char) f.type() + ":" + f.payload().toString(StandardCharsets.UTF_8).trim());
            f.release();
        }
        assertThat(seen).containsExactly("startup", "Q:SELECT 1", "Q:SELECT 22");
    }

    @Test
    void twoMessagesInOneBufferAreTwoFrames() {
        channel.writeInbound(startup("user", "u"));
        next().release();
        ByteBuf two = Unpooled.buffer();
        ByteBuf a = query("SELECT 1");
        ByteBuf b = Unpooled.buffer().writeByte('X').writeInt(4);
        two.writeBytes(a).writeBytes(b);
        a.release();
        b.release();
        channel.writeInbound(two);
        Frame q = next();
        Frame x = next();
        assertThat((char) q.type()).isEqualTo('Q');
        assertThat((char) x.type()).isEqualTo('X');
        assertThat(x.payload().readableBytes()).isZero();
        q.release();
        x.release();
    }

    @Test
    void beforeTheLoginCompletesAMessageOfMoreThanTenKilobytesIsRefused() {
        channel.writeInbound(startup("user", "u"));
        next().release();
        // the attack of issue 18: a stranger declares a 60 MB password message and streams it
        ByteBuf password = Unpooled.buffer().writeByte('p').writeInt(60_000_000).writeBytes(new byte[100]);
        assertThatThrownBy(() -> channel.writeInbound(password)).isInstanceOf(DecoderException.class)
                .hasCauseInstanceOf(ProtocolException.class)
                .hasMessageContaining("is 60000000 bytes, over the 10000 allowed before the login completes");
    }

    @Test
    void afterTheLoginLongMessagesUpToTheLimitPass() {
        channel.writeInbound(startup("user", "u"));
        next().release();
        decoder.authenticated();
        String sql = "SELECT '" + "x".repeat(50_000) + "'";
        channel.writeInbound(query(sql));
        Frame q = next();
        assertThat(q.payload().readableBytes()).isEqualTo(sql.length() + 1);
        q.release();
    }

    @Test
    void bytesPipelinedAfterAnSslRequestAreRefused() {
        // CVE-2021-23214: what a client sends before the TLS handshake is plaintext, maybe injected
        ByteBuf both = Unpooled.buffer().writeInt(8).writeInt(FrontendFrameDecoder.SSL_REQUEST);
        ByteBuf startup = startup("user", "app");
        both.writeBytes(startup);
        startup.release();
        assertThatThrownBy(() -> channel.writeInbound(both)).hasCauseInstanceOf(ProtocolException.class)
                .hasMessageContaining("received unencrypted data after SSL request");
        assertThat((Object) channel.readInbound()).as("not even the SSLRequest is passed on").isNull();
    }

    @Test
    void aMessageOverTheLimitIsRefusedBeforeItIsBuffered() {
        channel.writeInbound(startup("user", "u"));
        next().release();
        decoder.authenticated();
        ByteBuf huge = Unpooled.buffer().writeByte('Q').writeInt(50_000_000).writeBytes(new byte[100]);
        assertThatThrownBy(() -> channel.writeInbound(huge)).isInstanceOf(DecoderException.class)
                .hasCauseInstanceOf(ProtocolException.class).hasMessageContaining("over proxy.max_message_size");
    }

    @Test
    void aLengthBelowFourIsAProtocolViolation() {
        channel.writeInbound(startup("user", "u"));
        next().release();
        assertThatThrownBy(() -> channel.writeInbound(Unpooled.buffer().writeByte('Q').writeInt(2)))
                .hasCauseInstanceOf(ProtocolException.class).hasMessageContaining("invalid message length 2");
    }

    @Test
    void aHugeStartupPacketIsRefused() {
        assertThatThrownBy(() -> channel.writeInbound(Unpooled.buffer().writeInt(1 << 30).writeInt(FrontendFrameDecoder.PROTOCOL_3_0)))
                .hasCauseInstanceOf(ProtocolException.class).hasMessageContaining("invalid length of startup packet");
    }

    @Test
    void aTruncatedMessageWaitsForTheRest() {
        channel.writeInbound(startup("user", "u"));
        next().release();
        ByteBuf q = query("SELECT 1");
        channel.writeInbound(q.readRetainedSlice(7));
        assertThat(next()).isNull();
        channel.writeInbound(q.readRetainedSlice(q.readableBytes()));
        q.release();
        Frame f = next();
        assertThat(f.payload().toString(StandardCharsets.UTF_8)).isEqualTo("SELECT 1\0");
        f.release();
    }

    @Test
    void startupWithoutUserOrWithAnOldProtocolIsRefusedClearly() {
        channel.writeInbound(startup("database", "x"));
        Frame s = next();
        assertThatThrownBy(() -> StartupMessage.parse(s.payload())).isInstanceOfSatisfying(ProtocolException.class,
                e -> assertThat(e.sqlState()).isEqualTo(SqlState.INVALID_AUTHORIZATION)).hasMessageContaining("no PostgreSQL user name");
        s.release();
        ByteBuf v2 = Unpooled.buffer().writeInt(0x00020000).writeByte(0);
        assertThatThrownBy(() -> StartupMessage.parse(v2)).hasMessageContaining("unsupported frontend protocol 2.0");
        v2.release();
    }

    @Test
    void aStringIsReadInPlaceOrConsumed() {
        ByteBuf two = Unpooled.buffer().writeBytes("SELECT 1\0next\0".getBytes(StandardCharsets.UTF_8));
        assertThat(StartupMessage.cStringAt(two)).isEqualTo("SELECT 1");
        assertThat(two.readerIndex()).as("cStringAt leaves the reader index").isZero();
        assertThat(StartupMessage.readCString(two)).isEqualTo("SELECT 1");
        assertThat(StartupMessage.readCString(two)).isEqualTo("next");
        assertThat(two.isReadable()).isFalse();
        two.release();
        ByteBuf open = Unpooled.buffer().writeBytes("SELECT 1".getBytes(StandardCharsets.UTF_8));
        assertThatThrownBy(() -> StartupMessage.cStringAt(open)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("no terminating zero byte");
        open.release();
    }

    @Test
    void anUnterminatedStartupParameterIsAProtocolViolation() {
        ByteBuf bad = Unpooled.buffer().writeInt(FrontendFrameDecoder.PROTOCOL_3_0);
        bad.writeCharSequence("user", StandardCharsets.UTF_8);
        assertThatThrownBy(() -> StartupMessage.parse(bad)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("no terminating zero byte");
        bad.release();
        ByteBuf shortCancel = Unpooled.buffer().writeInt(FrontendFrameDecoder.CANCEL_REQUEST).writeInt(1);
        assertThatThrownBy(() -> CancelRequest.parse(shortCancel)).hasMessageContaining("invalid length of cancel request");
        shortCancel.release();
    }

    @Test
    void incompleteMessagesAcrossSessionsShareOneBudgetAndGiveItBack() {
        BufferBudget budget = new BufferBudget(100_000);
        FrontendFrameDecoder first = new FrontendFrameDecoder(1 << 20, budget);
        FrontendFrameDecoder second = new FrontendFrameDecoder(1 << 20, budget);
        EmbeddedChannel a = new EmbeddedChannel(first);
        EmbeddedChannel b = new EmbeddedChannel(second);
        for (EmbeddedChannel c : List.of(a, b)) {
            c.writeInbound(startup("user", "app"));
            ((Frame) c.readInbound()).release();
        }
        first.authenticated();
        second.authenticated();
        // a declares 500,000 bytes and sends 10: only what arrived is held, not what was declared
        a.writeInbound(Unpooled.buffer().writeByte('Q').writeInt(500_000).writeBytes(new byte[5]));
        assertThat(budget.used()).isEqualTo(10);
        a.writeInbound(Unpooled.buffer().writeBytes(new byte[69_990]));
        assertThat(budget.used()).as("held as it arrives").isEqualTo(70_000);
        // b's bytes do not fit beside a's: refused with 53200 once they would pass the budget
        b.writeInbound(Unpooled.buffer().writeByte('Q').writeInt(60_000).writeBytes(new byte[5]));
        assertThat(budget.used()).isEqualTo(70_010);
        assertThatThrownBy(() -> b.writeInbound(Unpooled.buffer().writeBytes(new byte[30_000])))
                .isInstanceOf(DecoderException.class).cause().isInstanceOf(ProtocolException.class)
                .hasMessageContaining("proxy.max_buffered_bytes is 100000")
                .extracting(e -> ((ProtocolException) e).sqlState()).isEqualTo(SqlState.OUT_OF_MEMORY);
        assertThat(budget.used()).as("b's share given back as it failed").isEqualTo(70_000);
        b.finishAndReleaseAll();
        // a session that ends in the middle of a message gives its share back
        a.finishAndReleaseAll();
        assertThat(budget.used()).isZero();
        // and a message that completes gives its bytes back at once
        FrontendFrameDecoder third = new FrontendFrameDecoder(1 << 20, budget);
        EmbeddedChannel c = new EmbeddedChannel(third);
        c.writeInbound(startup("user", "app"));
        ((Frame) c.readInbound()).release();
        third.authenticated();
        c.writeInbound(Unpooled.buffer().writeByte('Q').writeInt(4 + 20_000).writeBytes(new byte[10_000]));
        assertThat(budget.used()).isEqualTo(10_005);
        c.writeInbound(Unpooled.buffer().writeBytes(new byte[10_000]));
        Frame whole = c.readInbound();
        assertThat(whole.payload().readableBytes()).isEqualTo(20_000);
        whole.release();
        assertThat(budget.used()).isZero();
        c.finishAndReleaseAll();
    }

    @Test
    void aStartupPacketArrivingSlowlyIsHeldAgainstTheBudgetToo() {
        BufferBudget budget = new BufferBudget(5_000);
        EmbeddedChannel c = new EmbeddedChannel(new FrontendFrameDecoder(1 << 20, budget));
        c.writeInbound(Unpooled.buffer().writeInt(9_000).writeInt(FrontendFrameDecoder.PROTOCOL_3_0));
        assertThat(budget.used()).isEqualTo(8);
        assertThatThrownBy(() -> c.writeInbound(Unpooled.buffer().writeBytes(new byte[6_000])))
                .isInstanceOf(DecoderException.class).cause().hasMessageContaining("max_buffered_bytes");
        assertThat(budget.used()).isZero();
        c.finishAndReleaseAll();
    }
}

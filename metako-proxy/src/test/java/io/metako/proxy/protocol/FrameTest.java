package io.metako.proxy.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** A frame kept for a retry is sent again whole, whatever its first write did to its reader index. */
class FrameTest {

    private static Frame query(String sql) {
        byte[] body = (sql + "\0").getBytes(StandardCharsets.UTF_8);
        ByteBuf cumulation = Unpooled.buffer().writeBytes("xx".getBytes(StandardCharsets.US_ASCII)) // bytes before it
                .writeByte('Q').writeInt(4 + body.length).writeBytes(body);
        cumulation.skipBytes(2);
        Frame f = new Frame((byte) 'Q', cumulation.readRetainedSlice(cumulation.readableBytes()));
        cumulation.release();
        return f;
    }

    @Test
    void rewindAfterAPartialWriteGivesTheWholeMessageAgain() {
        Frame f = query("SELECT 1");
        byte[] whole = ByteBufUtil.getBytes(f.wire());
        f.retain(); // kept for a retry
        f.wire().skipBytes(5); // a write that went out in part moves the reader index
        f.release(); // the write's reference
        assertThat(ByteBufUtil.getBytes(f.rewind().wire())).isEqualTo(whole);
        assertThat(FrontendMessages.query(f.payload())).isEqualTo("SELECT 1");
        assertThat(f.release()).as("the retry's reference was the last").isTrue();
    }

    @Test
    void aFrameWrittenToAChannelAndRewoundIsWrittenTheSameAgain() {
        EmbeddedChannel ch = new EmbeddedChannel();
        Frame f = query("SELECT 2");
        byte[] whole = ByteBufUtil.getBytes(f.wire());
        ch.writeOutbound(f.retain().wire());
        ByteBuf first = ch.readOutbound();
        assertThat(ByteBufUtil.getBytes(first)).isEqualTo(whole);
        first.skipBytes(first.readableBytes()); // consumed by the transport
        first.release();
        ch.writeOutbound(f.rewind().wire());
        ByteBuf second = ch.readOutbound();
        assertThat(ByteBufUtil.getBytes(second)).isEqualTo(whole);
        second.release();
        assertThat(f.refCnt()).isZero();
        ch.finishAndReleaseAll();
    }
}

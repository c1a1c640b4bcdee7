package io.metako.proxy.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.proxy.LeakTracker;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The backend byte stream cut at every possible place: what is relayed, dropped and inspected, and no copy of runs. */
class BackendMessageScannerTest {
    /** T, D, D, C, Z as PostgreSQL sends them for a two-row SELECT. */
    private static final byte[] RESULT = ByteBufUtil.decodeHexDump(
            "54" + "0000000a" + "0001" + "61000000"                 // RowDescription (shortened body)
            + "44" + "0000000b" + "0001" + "00000001" + "31"        // DataRow '1'
            + "44" + "0000000b" + "0001" + "00000001" + "32"        // DataRow '2'
            + "43" + "0000000d" + "53454c4543542032" + "00"         // CommandComplete 'SELECT 2'
            + "5a" + "00000005" + "49");                            // ReadyForQuery 'I'

    @AfterAll
    static void noLeaks() throws InterruptedException {
        LeakTracker.assertNoLeaks();
    }

    /** Relays everything but 'D' rows, which it drops when asked, and inspects 'Z'. */
    static final class Recorder implements BackendMessageScanner.Sink {
        final boolean dropRows;
        final ByteBuf relayed = PooledByteBufAllocator.DEFAULT.buffer();
        final List<String> inspected = new ArrayList<>();
        int relayCalls;

        Recorder(boolean dropRows) {
            this.dropRows = dropRows;
        }

        @Override
        public BackendMessageScanner.Action classify(byte type, int length) {
            if (type == 'Z') {
                return BackendMessageScanner.Action.INSPECT;
            }
            return dropRows && type == 'D' ? BackendMessageScanner.Action.DROP : BackendMessageScanner.Action.RELAY;
        }

        @Override
        public boolean inspect(byte type, ByteBuf payload) {
            inspected.add((char) type + ":" + payload.toString(StandardCharsets.US_ASCII));
            return true;
        }

        @Override
        public void afterInspect(byte type) {
            // what the sink writes now (e.g. held notifications) must come after the inspected message
            inspected.add("after " + (char) type + " with " + relayed.readableBytes() + " bytes relayed");
        }

        @Override
        public void relay(ByteBuf bytes) {
            relayCalls++;
            relayed.writeBytes(bytes);
            bytes.release();
        }
    }

    private static ByteBuf buf(byte[] bytes, int from, int to) {
        return PooledByteBufAllocator.DEFAULT.buffer().writeBytes(bytes, from, to - from);
    }

    @Test
    void aWholeResultInOneReadLeavesAsOneSliceWithItsReadyForQuery() {
        Recorder r = new Recorder(false);
        new BackendMessageScanner(1 << 20).feed(buf(RESULT, 0, RESULT.length), r);
        assertThat(ByteBufUtil.getBytes(r.relayed)).isEqualTo(RESULT);
        assertThat(r.relayCalls).as("T..C and the Z after it as one run").isEqualTo(1);
        assertThat(r.inspected).containsExactly("Z:I", "after Z with " + RESULT.length + " bytes relayed");
        r.relayed.release();
    }

    @Test
    void everySplitPointGivesTheSameStream() {
        for (int cut = 1; cut < RESULT.length; cut++) {
            for (boolean drop : new boolean[] {false, true}) {
                Recorder r = new Recorder(drop);
                BackendMessageScanner s = new BackendMessageScanner(1 << 20);
                s.feed(buf(RESULT, 0, cut), r);
                s.feed(buf(RESULT, cut, RESULT.length), r);
                s.discard();
                byte[] expected = drop ? ByteBufUtil.decodeHexDump(ByteBufUtil.hexDump(RESULT).replace(
                        "440000000b0001000000013144" + "0000000b00010000000132", "")) : RESULT;
                assertThat(ByteBufUtil.getBytes(r.relayed)).as("cut at %d, drop rows %s", cut, drop).isEqualTo(expected);
                assertThat(r.inspected).as("cut at %d", cut).containsExactly("Z:I", "after Z with " + expected.length + " bytes relayed");
                r.relayed.release();
            }
        }
    }

    @Test
    void aBrokenLengthFromABackendIsAProtocolError() {
        Recorder r = new Recorder(false);
        BackendMessageScanner s = new BackendMessageScanner(1 << 20);
        assertThatThrownBy(() -> s.feed(buf(new byte[] {'D', 0, 0, 0, 2}, 0, 5), r)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("invalid length 2");
        r.relayed.release();
    }

    @Test
    void anInspectedMessageOverTheLimitIsRefusedBeforeItIsBuffered() {
        Recorder r = new Recorder(false);
        BackendMessageScanner s = new BackendMessageScanner(100);
        assertThatThrownBy(() -> s.feed(buf(new byte[] {'Z', 0, 1, 0, 0}, 0, 5), r)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("over the limit");
        r.relayed.release();
    }
}

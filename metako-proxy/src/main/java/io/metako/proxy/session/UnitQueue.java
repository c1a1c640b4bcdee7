package io.metako.proxy.session;

import io.metako.proxy.protocol.Frame;
import io.metako.proxy.protocol.FrontendMessages;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;

/**
 * The client's messages not yet sent on, framed into units: a Query, a FunctionCall, or the
 * extended-protocol messages up to Sync (or Flush). After an error of the proxy's in an extended-protocol
 * unit, it discards up to the next Sync, as PostgreSQL does.
 *
 * <p>Buffers: the queue owns the frames it holds; {@link #poll} hands one over, the other ways out release them.
 */
final class UnitQueue implements Iterable<Frame> {
    /** An extended-protocol unit longer than this without Sync is sent on (to the primary) as it comes. */
    static final int UNIT_BUFFER_LIMIT = 1 << 20;
    private static final String VALID_TYPES = "QPBDECSHFXdcf";

    private final ArrayDeque<Frame> frames = new ArrayDeque<>();
    private int bytes;
    private boolean discardUntilSync;

    /** Whether a client may send a message of this type once logged in. */
    static boolean validType(byte type) {
        return VALID_TYPES.indexOf(type) >= 0;
    }

    void add(Frame f) {
        frames.add(f);
        bytes += f.wire().readableBytes();
    }

    boolean isEmpty() {
        return frames.isEmpty();
    }

    byte headType() {
        return frames.peek().type();
    }

    /** The frame at the head, handed over. */
    Frame poll() {
        Frame f = frames.poll();
        bytes -= f.wire().readableBytes();
        return f;
    }

    @Override
    public Iterator<Frame> iterator() {
        return frames.iterator();
    }

    /** Over the limit of one buffered unit: its head must go on before its end has arrived. */
    boolean overLimit() {
        return bytes >= UNIT_BUFFER_LIMIT;
    }

    /** Index of the message ending the unit at the head, -1 when it has not all arrived. */
    int unitEnd() {
        int i = 0;
        for (Frame f : frames) {
            byte t = f.type();
            if (i == 0 && (t == FrontendMessages.QUERY || t == FrontendMessages.FUNCTION_CALL)) {
                return 0;
            }
            if (t == FrontendMessages.SYNC || t == FrontendMessages.FLUSH || t == FrontendMessages.QUERY
                    || t == FrontendMessages.TERMINATE) {
                return i;
            }
            i++;
        }
        return -1;
    }

    /** The SQL of the unit {@code [0, end]}: its Query, or its Parses joined with "; ". */
    String unitSql(int end) {
        StringBuilder sb = new StringBuilder();
        Iterator<Frame> it = frames.iterator();
        for (int i = 0; i <= end && it.hasNext(); i++) {
            Frame f = it.next();
            if (f.type() == FrontendMessages.QUERY) {
                sb.append(FrontendMessages.query(f.payload()));
            } else if (f.type() == FrontendMessages.PARSE) {
                sb.append(sb.length() > 0 ? "; " : "").append(FrontendMessages.Parse.parse(f.payload()).sql());
            }
        }
        return sb.toString();
    }

    /** Drops the unit {@code [0, end]} (all that is queued when {@code end} is -1); the type of its last message. */
    byte dropUnit(int end) {
        int n = end < 0 ? frames.size() : end + 1;
        byte last = 0;
        for (int i = 0; i < n; i++) {
            Frame f = poll();
            last = f.type();
            f.release();
        }
        return last;
    }

    /** Puts frames sent before back at the head, rewound, in their order, to be sent again. */
    void pushBack(List<Frame> sent) {
        for (int i = sent.size() - 1; i >= 0; i--) {
            Frame f = sent.get(i).rewind();
            frames.addFirst(f);
            bytes += f.wire().readableBytes();
        }
    }

    /** From now until a Sync, the client's messages are dropped unanswered. */
    void discardUntilSync() {
        discardUntilSync = true;
    }

    boolean discarding() {
        return discardUntilSync;
    }

    /** While discarding: drops the head; true when it was the Sync that ends the discarding. */
    boolean discardOne() {
        Frame f = poll();
        boolean sync = f.type() == FrontendMessages.SYNC;
        f.release();
        discardUntilSync = !sync;
        return sync;
    }

    void releaseAll() {
        Frame f;
        while ((f = frames.poll()) != null) {
            f.release();
        }
        bytes = 0;
    }
}

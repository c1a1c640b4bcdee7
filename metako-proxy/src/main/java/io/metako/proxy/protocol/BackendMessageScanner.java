package io.metako.proxy.protocol;

import io.netty.buffer.ByteBuf;

/**
 * Walks the byte stream a backend sends, message by message, without copying what passes
 * through: consecutive messages to relay leave as one retained slice of the bytes read (a
 * message split across reads leaves in pieces, its rest passed on without being buffered), so a
 * result set streams with no per-row allocation and no size limit. Only the messages the sink
 * asks to inspect (ReadyForQuery, errors, login messages) are gathered whole.
 *
 * <p>Ownership: {@link #feed} takes the buffer it is given and releases it; every slice handed
 * to {@link Sink#relay} is retained for the sink, which writes or releases it.
 */
public final class BackendMessageScanner {
    /** What to do with one message. */
    public enum Action { RELAY, DROP, INSPECT }

    /** Decides per message; called on one thread, in stream order. */
    public interface Sink {
        /**
         * The fate of the message with this type and length word. May be asked again for the same
         * message when it answered {@link Action#INSPECT} and the message had not fully arrived, so
         * it must have no side effect in that case.
         */
        Action classify(byte type, int length);

        /**
         * A whole inspected message; {@code payload} is valid during the call only. True: relay it too, in
         * one buffer with the relayed messages just before it. Called before those are relayed, so it must
         * not write to where they go (that belongs in {@link #afterInspect}).
         */
        boolean inspect(byte type, ByteBuf payload);

        /** Bytes to pass on, in order (whole messages or pieces of one); ownership passes to the sink. */
        void relay(ByteBuf bytes);

        /** Called after each inspected message, once it has been relayed if it was to be. */
        default void afterInspect(byte type) {
        }
    }

    private final int maxInspectedLength;
    private ByteBuf leftover;
    private int passRemaining;
    private int dropRemaining;

    public BackendMessageScanner(int maxInspectedLength) {
        this.maxInspectedLength = maxInspectedLength;
    }

    /** Scans {@code in} (and what was left of earlier reads); takes ownership of {@code in}. */
    public void feed(ByteBuf in, Sink sink) {
        ByteBuf buf = in;
        if (leftover != null) {
            buf = leftover;
            leftover = null;
            try {
                buf.writeBytes(in);
            } finally {
                in.release();
            }
        }
        try {
            scan(buf, sink);
            if (buf.isReadable()) {
                leftover = buf.alloc().buffer(Math.max(256, buf.readableBytes() * 2)).writeBytes(buf);
            }
        } finally {
            buf.release();
        }
    }

    /** Whether the last bytes passed on ended inside a message (its rest is still to come). */
    public boolean midMessage() {
        return passRemaining > 0;
    }

    /** Frees what is held between reads (the connection is gone). */
    public void discard() {
        if (leftover != null) {
            leftover.release();
            leftover = null;
        }
    }

    private void scan(ByteBuf buf, Sink sink) {
        int runStart = -1;
        while (buf.isReadable()) {
            if (passRemaining > 0) {
                if (runStart < 0) {
                    runStart = buf.readerIndex();
                }
                int n = Math.min(passRemaining, buf.readableBytes());
                buf.skipBytes(n);
                passRemaining -= n;
                continue;
            }
            if (dropRemaining > 0) {
                runStart = flushRun(buf, runStart, sink);
                int n = Math.min(dropRemaining, buf.readableBytes());
                buf.skipBytes(n);
                dropRemaining -= n;
                continue;
            }
            if (buf.readableBytes() < 5) {
                break;
            }
            int at = buf.readerIndex();
            byte type = buf.getByte(at);
            int length = buf.getInt(at + 1);
            if (length < 4) {
                throw new ProtocolException("backend sent message '" + (char) type + "' with invalid length " + length);
            }
            Action action = sink.classify(type, length);
            if (action == Action.RELAY) {
                passRemaining = 1 + length;
            } else if (action == Action.DROP) {
                dropRemaining = 1 + length;
            } else {
                if (length > maxInspectedLength) {
                    throw new ProtocolException("backend sent message '" + (char) type + "' of " + length
                            + " bytes, over the limit of " + maxInspectedLength);
                }
                if (buf.readableBytes() < 1 + length) {
                    break;
                }
                boolean relay = sink.inspect(type, buf.slice(at + 5, length - 4));
                if (relay) {
                    if (runStart < 0) {
                        runStart = at;
                    }
                    buf.skipBytes(1 + length); // joins the run: the rows and their ReadyForQuery leave as one buffer
                    runStart = flushRun(buf, runStart, sink);
                } else {
                    runStart = flushRun(buf, runStart, sink);
                    buf.skipBytes(1 + length);
                }
                sink.afterInspect(type);
            }
        }
        flushRun(buf, runStart, sink);
    }

    private static int flushRun(ByteBuf buf, int runStart, Sink sink) {
        if (runStart >= 0 && buf.readerIndex() > runStart) {
            sink.relay(buf.retainedSlice(runStart, buf.readerIndex() - runStart));
        }
        return -1;
    }
}

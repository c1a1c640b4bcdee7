package io.metako.proxy.session;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notifications and notices from a session's idle backends, kept while a unit runs on another: relaying
 * one then could split that unit's answer, so they wait for its ReadyForQuery, as PostgreSQL itself
 * delivers notifications between statements. Bounded: past the limit the oldest is dropped.
 *
 * <p>Buffers: each held message is a copy this class owns until written or released.
 */
final class HeldNotices {
    private static final Logger LOG = LoggerFactory.getLogger(HeldNotices.class);
    static final int MAX_HELD = 10_000;

    private final ArrayDeque<ByteBuf> held = new ArrayDeque<>();
    private final int sessionId;

    HeldNotices(int sessionId) {
        this.sessionId = sessionId;
    }

    /** Keeps a copy of the message {@code type} with {@code payload} (valid during the call only). */
    void hold(ByteBufAllocator alloc, byte type, ByteBuf payload) {
        if (held.size() >= MAX_HELD) {
            held.poll().release();
            LOG.warn("proxy session {}: over {} notifications held while a statement runs; dropping the oldest",
                    sessionId, MAX_HELD);
        }
        int n = payload.readableBytes();
        held.add(alloc.buffer(5 + n).writeByte(type).writeInt(4 + n).writeBytes(payload, payload.readerIndex(), n));
    }

    /** Writes what is held to the client (not flushed), in the order it arrived. */
    void writeTo(Channel client) {
        while (!held.isEmpty()) {
            client.write(held.poll(), client.voidPromise());
        }
    }

    void release() {
        while (!held.isEmpty()) {
            held.poll().release();
        }
    }
}

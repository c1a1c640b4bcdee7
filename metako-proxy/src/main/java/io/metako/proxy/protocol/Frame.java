package io.metako.proxy.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCounted;

/**
 * One message of the PostgreSQL v3 protocol as framed on the wire: its type byte (0 for the
 * untyped startup-phase messages) and its payload without the length word.
 *
 * <p>Ownership: the payload is a retained slice; whoever receives a frame releases it (through
 * {@link #release()}), normally the layer that turns it into a typed message.
 */
public record Frame(byte type, ByteBuf payload) implements ReferenceCounted {
    /** The type byte of startup-phase messages, which carry none on the wire. */
    public static final byte UNTYPED = 0;

    @Override
    public int refCnt() {
        return payload.refCnt();
    }

    @Override
    public Frame retain() {
        payload.retain();
        return this;
    }

    @Override
    public Frame retain(int increment) {
        payload.retain(increment);
        return this;
    }

    @Override
    public Frame touch() {
        payload.touch();
        return this;
    }

    @Override
    public Frame touch(Object hint) {
        payload.touch(hint);
        return this;
    }

    @Override
    public boolean release() {
        return payload.release();
    }

    @Override
    public boolean release(int decrement) {
        return payload.release(decrement);
    }
}

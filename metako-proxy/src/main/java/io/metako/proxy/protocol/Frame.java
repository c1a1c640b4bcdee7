package io.metako.proxy.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCounted;

/**
 * One message of the PostgreSQL v3 protocol as framed on the wire: its type byte (0 for the
 * untyped startup-phase messages) and its bytes, header included, so that a message relayed
 * unchanged is written as it came, without copying or re-framing.
 *
 * <p>Ownership: {@link #wire()} is a retained slice; whoever receives a frame releases it (through
 * {@link #release()}) or hands it on by writing {@link #wire()} to a channel, which releases it.
 */
public final class Frame implements ReferenceCounted {
    /** The type byte of startup-phase messages, which carry none on the wire. */
    public static final byte UNTYPED = 0;

    private final byte type;
    private final ByteBuf wire;
    private final int start;

    /** {@code wire}: the whole message, type byte (if any) and length word included. */
    public Frame(byte type, ByteBuf wire) {
        this.type = type;
        this.wire = wire;
        this.start = wire.readerIndex();
    }

    public byte type() {
        return type;
    }

    /** The message as on the wire; writing it to a channel hands the frame over. */
    public ByteBuf wire() {
        return wire;
    }

    /** The message body after the length word: a view that lives as long as the frame. */
    public ByteBuf payload() {
        int header = type == UNTYPED ? 4 : 5;
        return wire.slice(wire.readerIndex() + header, wire.readableBytes() - header);
    }

    /**
     * Makes the whole message readable again, so that a frame retained before it was written can be
     * sent once more: a write that went out in part (or a transport that reads the buffer as it
     * writes) leaves the reader index where it stopped.
     */
    public Frame rewind() {
        wire.readerIndex(start);
        return this;
    }

    @Override
    public int refCnt() {
        return wire.refCnt();
    }

    @Override
    public Frame retain() {
        wire.retain();
        return this;
    }

    @Override
    public Frame retain(int increment) {
        wire.retain(increment);
        return this;
    }

    @Override
    public Frame touch() {
        wire.touch();
        return this;
    }

    @Override
    public Frame touch(Object hint) {
        wire.touch(hint);
        return this;
    }

    @Override
    public boolean release() {
        return wire.release();
    }

    @Override
    public boolean release(int decrement) {
        return wire.release(decrement);
    }

    @Override
    public String toString() {
        return "Frame[" + (type == UNTYPED ? "untyped" : "'" + (char) type + "'") + ", " + wire.readableBytes() + " bytes]";
    }
}

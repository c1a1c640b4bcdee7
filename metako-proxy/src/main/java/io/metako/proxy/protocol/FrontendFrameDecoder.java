package io.metako.proxy.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Cuts the bytes a client sends into {@link Frame}s. Until the StartupMessage, messages carry no
 * type byte (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest); after it, every message
 * is a type byte and a length. A length below 4 or above {@code maxMessageSize} is a
 * {@link ProtocolException}: the proxy must not buffer whatever a client claims to send. Until the
 * client has logged in ({@link #authenticated()}), the limit is {@link #MAX_LOGIN_MESSAGE}: no password
 * or SCRAM message comes near it, and a stranger cannot make the proxy hold megabytes. While a message is
 * incomplete, the bytes of it that arrived are held against the proxy's {@link BufferBudget}, shared by all sessions.
 */
public final class FrontendFrameDecoder extends ByteToMessageDecoder {
    /** Protocol 3.0 in a StartupMessage. */
    public static final int PROTOCOL_3_0 = 196608;
    public static final int SSL_REQUEST = 80877103;
    public static final int GSSENC_REQUEST = 80877104;
    public static final int CANCEL_REQUEST = 80877102;
    /** A startup packet larger than this is refused, as PostgreSQL does (MAX_STARTUP_PACKET_LENGTH). */
    public static final int MAX_STARTUP_LENGTH = 10_000;

    /** The largest message accepted before the login completed (PostgreSQL allows a few kB there too). */
    public static final int MAX_LOGIN_MESSAGE = 10_000;

    private final int maxMessageSize;
    private final BufferBudget budget;
    private int limit;
    private boolean startupDone;
    private boolean failed;
    /** Bytes of {@link #budget} held for the message that has not fully arrived; 0 when none. */
    private long held;

    public FrontendFrameDecoder(int maxMessageSize) {
        this(maxMessageSize, BufferBudget.unlimited());
    }

    public FrontendFrameDecoder(int maxMessageSize, BufferBudget budget) {
        this.maxMessageSize = maxMessageSize;
        this.budget = budget;
        this.limit = Math.min(MAX_LOGIN_MESSAGE, maxMessageSize);
    }

    /** The client has logged in: from now on messages may be as long as {@code proxy.max_message_size}. */
    public void authenticated() {
        limit = maxMessageSize;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes()); // the session is closing: what follows garbage is garbage
            return;
        }
        try {
            if (!startupDone) {
                decodeStartup(in, out);
            } else {
                decodeRegular(in, out);
            }
        } catch (ProtocolException e) {
            failed = true;
            in.skipBytes(in.readableBytes());
            releaseHeld();
            throw e;
        }
    }

    /**
     * Waits for the rest of a message of {@code length} bytes, holding what has arrived of it ({@code buffered})
     * against the budget: what the session really holds, not what it declared, so a client that declares a large
     * message and trickles it pins only what it sent. A {@link ProtocolException} (53200) when the proxy's sessions
     * hold too much already.
     */
    private void awaitRest(long length, long buffered) {
        if (buffered > held) {
            if (!budget.reserve(buffered - held)) {
                throw new ProtocolException(SqlState.OUT_OF_MEMORY, "out of memory: " + buffered + " bytes of a " + length
                        + "-byte message do not fit in what the proxy may hold for incomplete messages across its sessions"
                        + " (proxy.max_buffered_bytes is " + budget.limit() + ", " + budget.used() + " in use); retry later");
            }
            held = buffered;
        }
    }

    private void releaseHeld() {
        if (held != 0) {
            budget.release(held);
            held = 0;
        }
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) {
        releaseHeld();
    }

    private void decodeStartup(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < 8) {
            return;
        }
        int length = in.getInt(in.readerIndex());
        if (length < 8 || length > MAX_STARTUP_LENGTH) {
            throw new ProtocolException("invalid length of startup packet: " + length);
        }
        if (in.readableBytes() < length) {
            awaitRest(length, in.readableBytes());
            return;
        }
        releaseHeld();
        int code = in.getInt(in.readerIndex() + 4);
        if ((code == SSL_REQUEST || code == GSSENC_REQUEST) && in.readableBytes() > length) {
            // what follows was sent before the answer and, for TLS, before the handshake: in plaintext, maybe
            // injected by a man in the middle (CVE-2021-23214), so it must never be read as if it came after
            throw new ProtocolException("received unencrypted data after SSL request");
        }
        Frame frame = new Frame(Frame.UNTYPED, in.readRetainedSlice(length));
        if (code != SSL_REQUEST && code != GSSENC_REQUEST && code != CANCEL_REQUEST) {
            startupDone = true; // a StartupMessage (any version: the session layer checks it)
        }
        out.add(frame);
    }

    private void decodeRegular(ByteBuf in, List<Object> out) {
        while (in.readableBytes() >= 5) {
            byte type = in.getByte(in.readerIndex());
            int length = in.getInt(in.readerIndex() + 1);
            if (length < 4) {
                throw new ProtocolException("invalid message length " + length + " for message type '" + (char) type + "'");
            }
            if (length > limit) {
                throw limit < maxMessageSize
                        ? new ProtocolException("message of type '" + (char) type + "' is " + length + " bytes, over the "
                                + limit + " allowed before the login completes")
                        : new ProtocolException(SqlState.PROGRAM_LIMIT_EXCEEDED, "message of type '" + (char) type
                                + "' is " + length + " bytes, over proxy.max_message_size (" + maxMessageSize + ")");
            }
            if (in.readableBytes() < 1 + length) {
                awaitRest(1L + length, in.readableBytes());
                return;
            }
            releaseHeld();
            out.add(new Frame(type, in.readRetainedSlice(1 + length)));
        }
    }
}

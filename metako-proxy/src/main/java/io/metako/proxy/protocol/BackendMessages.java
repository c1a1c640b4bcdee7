package io.metako.proxy.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;

/**
 * Encoders for the messages the proxy itself sends to clients. Each returns a new buffer the
 * caller writes (and so hands over) to the channel.
 */
public final class BackendMessages {
    private BackendMessages() {
    }

    /** ErrorResponse with severity, SQLSTATE and message (the fields libpq and pgjdbc show). */
    public static ByteBuf errorResponse(ByteBufAllocator alloc, String severity, String sqlState, String message) {
        ByteBuf b = alloc.buffer();
        b.writeByte('E').writeInt(0);
        field(b, 'S', severity);
        field(b, 'V', severity);
        field(b, 'C', sqlState);
        field(b, 'M', message);
        b.writeByte(0);
        return finish(b);
    }

    public static ByteBuf authenticationOk(ByteBufAllocator alloc) {
        return alloc.buffer(9).writeByte('R').writeInt(8).writeInt(0);
    }

    public static ByteBuf parameterStatus(ByteBufAllocator alloc, String name, String value) {
        ByteBuf b = alloc.buffer().writeByte('S').writeInt(0);
        cstring(b, name);
        cstring(b, value);
        return finish(b);
    }

    public static ByteBuf backendKeyData(ByteBufAllocator alloc, int processId, int secretKey) {
        return alloc.buffer(13).writeByte('K').writeInt(12).writeInt(processId).writeInt(secretKey);
    }

    /** ReadyForQuery with the transaction status: 'I' idle, 'T' in a transaction, 'E' failed transaction. */
    public static ByteBuf readyForQuery(ByteBufAllocator alloc, char status) {
        return alloc.buffer(6).writeByte('Z').writeInt(5).writeByte(status);
    }

    /** The one-byte answer to SSLRequest or GSSENCRequest: 'S' (go ahead) or 'N' (not supported). */
    public static ByteBuf encryptionAnswer(ByteBufAllocator alloc, boolean accept) {
        return alloc.buffer(1).writeByte(accept ? 'S' : 'N');
    }

    private static void field(ByteBuf b, char code, String value) {
        b.writeByte(code);
        cstring(b, value);
    }

    private static void cstring(ByteBuf b, String s) {
        b.writeCharSequence(s.replace('\0', ' '), StandardCharsets.UTF_8);
        b.writeByte(0);
    }

    /** Fills in the length word after the type byte. */
    private static ByteBuf finish(ByteBuf b) {
        return b.setInt(1, b.writerIndex() - 1);
    }
}

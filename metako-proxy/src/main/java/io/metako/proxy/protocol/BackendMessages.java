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
        return alloc.buffer(9).writeByte('R').writeInt(8).writeInt(AUTH_OK);
    }

    public static final int AUTH_OK = 0;
    public static final int AUTH_CLEARTEXT = 3;
    public static final int AUTH_MD5 = 5;
    public static final int AUTH_SASL = 10;
    public static final int AUTH_SASL_CONTINUE = 11;
    public static final int AUTH_SASL_FINAL = 12;

    public static ByteBuf authenticationCleartext(ByteBufAllocator alloc) {
        return alloc.buffer(9).writeByte('R').writeInt(8).writeInt(AUTH_CLEARTEXT);
    }

    public static ByteBuf authenticationMd5(ByteBufAllocator alloc, byte[] salt) {
        return alloc.buffer(13).writeByte('R').writeInt(12).writeInt(AUTH_MD5).writeBytes(salt, 0, 4);
    }

    /** AuthenticationSASL offering one mechanism. */
    public static ByteBuf authenticationSasl(ByteBufAllocator alloc, String mechanism) {
        ByteBuf b = alloc.buffer().writeByte('R').writeInt(0).writeInt(AUTH_SASL);
        cstring(b, mechanism);
        b.writeByte(0);
        return finish(b);
    }

    /** AuthenticationSASLContinue (11) or AuthenticationSASLFinal (12) with the server's message. */
    public static ByteBuf authenticationSaslData(ByteBufAllocator alloc, int code, String data) {
        ByteBuf b = alloc.buffer().writeByte('R').writeInt(0).writeInt(code);
        b.writeCharSequence(data, StandardCharsets.UTF_8);
        return finish(b);
    }

    // ---- reading what a backend sends (payload views, not consumed) ------------------------

    /** The fields of an ErrorResponse or NoticeResponse, by field code ('S', 'C', 'M', ...). */
    public static java.util.Map<Character, String> fields(ByteBuf payload) {
        ByteBuf in = payload.duplicate();
        java.util.Map<Character, String> out = new java.util.LinkedHashMap<>();
        while (in.isReadable()) {
            byte code = in.readByte();
            if (code == 0) {
                break;
            }
            out.put((char) code, StartupMessage.readCString(in));
        }
        return out;
    }

    /** "SQLSTATE: message" of an ErrorResponse, for logs and for errors the proxy passes on. */
    public static String describeError(ByteBuf payload) {
        java.util.Map<Character, String> f = fields(payload);
        return f.getOrDefault('C', "?????") + ": " + f.getOrDefault('M', "(no message)");
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
    /** A message with no body: ParseComplete '1', BindComplete '2', CloseComplete '3', NoData 'n'. */
    public static ByteBuf empty(ByteBufAllocator alloc, char type) {
        return alloc.buffer(5).writeByte(type).writeInt(4);
    }

    /** CommandComplete with {@code tag} ("SET", "RESET", ...). */
    public static ByteBuf commandComplete(ByteBufAllocator alloc, String tag) {
        ByteBuf b = alloc.buffer(6 + tag.length()).writeByte('C').writeInt(0);
        cstring(b, tag);
        return finish(b);
    }

    /** ParameterDescription of a statement without parameters. */
    public static ByteBuf noParameters(ByteBufAllocator alloc) {
        return alloc.buffer(7).writeByte('t').writeInt(6).writeShort(0);
    }

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

    /** "16/B374D848" to a number; -1 when it is not one. */
    public static long parseLsn(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            return -1;
        }
        try {
            return (Long.parseLong(text.substring(0, slash), 16) << 32) | Long.parseLong(text.substring(slash + 1), 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}

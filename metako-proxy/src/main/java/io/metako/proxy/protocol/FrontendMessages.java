package io.metako.proxy.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The client messages the proxy reads into (Query, Parse, Bind, Describe, Close, the password
 * family) and the ones it writes itself to backends (startup, password, SASL, Query, Parse,
 * Close, Terminate, CancelRequest). Parsers read a frame's payload without consuming or
 * releasing it; a malformed body is a {@link ProtocolException}.
 */
public final class FrontendMessages {
    public static final byte QUERY = 'Q';
    public static final byte PARSE = 'P';
    public static final byte BIND = 'B';
    public static final byte DESCRIBE = 'D';
    public static final byte EXECUTE = 'E';
    public static final byte CLOSE = 'C';
    public static final byte SYNC = 'S';
    public static final byte FLUSH = 'H';
    public static final byte FUNCTION_CALL = 'F';
    public static final byte TERMINATE = 'X';
    public static final byte PASSWORD = 'p';
    public static final byte COPY_DATA = 'd';
    public static final byte COPY_DONE = 'c';
    public static final byte COPY_FAIL = 'f';

    private FrontendMessages() {
    }

    /** Query: the SQL string. */
    public static String query(ByteBuf payload) {
        return StartupMessage.cStringAt(payload);
    }

    /** Parse: statement name and SQL (parameter types are kept in the raw message, not parsed). */
    public record Parse(String statement, String sql) {
        public static Parse parse(ByteBuf payload) {
            ByteBuf in = payload.duplicate();
            return new Parse(StartupMessage.readCString(in), StartupMessage.readCString(in));
        }
    }

    /** Bind: which statement the new portal runs. */
    public static String bindStatement(ByteBuf payload) {
        ByteBuf in = payload.duplicate();
        StartupMessage.readCString(in); // portal
        return StartupMessage.readCString(in);
    }

    /** Describe or Close: 'S' (statement) or 'P' (portal) and the name. */
    public record Target(char kind, String name) {
        public static Target parse(ByteBuf payload) {
            ByteBuf in = payload.duplicate();
            if (!in.isReadable()) {
                throw new ProtocolException("Describe/Close message without a target");
            }
            char kind = (char) in.readByte();
            if (kind != 'S' && kind != 'P') {
                throw new ProtocolException("invalid Describe/Close target type '" + kind + "'");
            }
            return new Target(kind, StartupMessage.readCString(in));
        }

        public boolean statement() {
            return kind == 'S';
        }
    }

    /** SASLInitialResponse: mechanism and the client-first message. */
    public record SaslInitial(String mechanism, String data) {
        public static SaslInitial parse(ByteBuf payload) {
            ByteBuf in = payload.duplicate();
            String mechanism = StartupMessage.readCString(in);
            if (in.readableBytes() < 4) {
                throw new ProtocolException("malformed SASLInitialResponse: no length of the initial response");
            }
            int length = in.readInt();
            if (length < 0 || length != in.readableBytes()) {
                throw new ProtocolException("malformed SASLInitialResponse: length " + length + " does not match the message");
            }
            return new SaslInitial(mechanism, in.toString(StandardCharsets.UTF_8));
        }
    }

    /** SASLResponse: the whole body. */
    public static String saslResponse(ByteBuf payload) {
        return payload.toString(StandardCharsets.UTF_8);
    }

    /** PasswordMessage: the NUL-terminated password (cleartext or md5 hash). */
    public static String password(ByteBuf payload) {
        return StartupMessage.cStringAt(payload);
    }

    // ---- messages the proxy writes to a backend ---------------------------------------------

    public static ByteBuf startup(ByteBufAllocator alloc, Map<String, String> parameters) {
        ByteBuf b = alloc.buffer().writeInt(0).writeInt(FrontendFrameDecoder.PROTOCOL_3_0);
        parameters.forEach((k, v) -> {
            cstring(b, k);
            cstring(b, v);
        });
        b.writeByte(0);
        return b.setInt(0, b.writerIndex());
    }

    public static ByteBuf passwordMessage(ByteBufAllocator alloc, String password) {
        ByteBuf b = alloc.buffer().writeByte(PASSWORD).writeInt(0);
        cstring(b, password);
        return finish(b);
    }

    public static ByteBuf saslInitialResponse(ByteBufAllocator alloc, String mechanism, String data) {
        ByteBuf b = alloc.buffer().writeByte(PASSWORD).writeInt(0);
        cstring(b, mechanism);
        byte[] bytes = data.getBytes(StandardCharsets.UTF_8);
        b.writeInt(bytes.length).writeBytes(bytes);
        return finish(b);
    }

    public static ByteBuf saslResponse(ByteBufAllocator alloc, String data) {
        ByteBuf b = alloc.buffer().writeByte(PASSWORD).writeInt(0);
        b.writeCharSequence(data, StandardCharsets.UTF_8);
        return finish(b);
    }

    public static ByteBuf query(ByteBufAllocator alloc, String sql) {
        ByteBuf b = alloc.buffer().writeByte(QUERY).writeInt(0);
        cstring(b, sql);
        return finish(b);
    }

    public static ByteBuf close(ByteBufAllocator alloc, char kind, String name) {
        ByteBuf b = alloc.buffer().writeByte(CLOSE).writeInt(0).writeByte(kind);
        cstring(b, name);
        return finish(b);
    }

    public static ByteBuf terminate(ByteBufAllocator alloc) {
        return alloc.buffer(5).writeByte(TERMINATE).writeInt(4);
    }

    public static ByteBuf cancelRequest(ByteBufAllocator alloc, int processId, int secretKey) {
        return alloc.buffer(16).writeInt(16).writeInt(FrontendFrameDecoder.CANCEL_REQUEST).writeInt(processId).writeInt(secretKey);
    }

    static void cstring(ByteBuf b, String s) {
        b.writeCharSequence(s, StandardCharsets.UTF_8);
        b.writeByte(0);
    }

    static ByteBuf finish(ByteBuf b) {
        return b.setInt(1, b.writerIndex() - 1);
    }
}

package io.metako.proxy.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The client's StartupMessage: protocol version and its parameters ({@code user},
 * {@code database}, {@code application_name}, {@code options}, ...). {@code user} is required.
 */
public record StartupMessage(int protocol, Map<String, String> parameters) {
    public StartupMessage {
        parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    }

    public String user() {
        return parameters.get("user");
    }

    /** The database, which defaults to the user name as in PostgreSQL. */
    public String database() {
        return parameters.getOrDefault("database", user());
    }

    /** Parses the payload of an untyped frame whose first word is {@code protocol}; does not release it. */
    public static StartupMessage parse(ByteBuf payload) {
        ByteBuf in = payload.duplicate();
        int protocol = in.readInt();
        if (protocol >> 16 != 3) {
            throw new ProtocolException(SqlState.FEATURE_NOT_SUPPORTED, "unsupported frontend protocol "
                    + (protocol >> 16) + "." + (protocol & 0xFFFF) + ": server supports 3.0");
        }
        Map<String, String> params = new LinkedHashMap<>();
        while (in.isReadable()) {
            String key = readCString(in);
            if (key.isEmpty()) {
                break;
            }
            if (!in.isReadable()) {
                throw new ProtocolException("invalid startup packet layout: expected terminator as last byte");
            }
            params.put(key, readCString(in));
        }
        if (params.get("user") == null || params.get("user").isEmpty()) {
            throw new ProtocolException(SqlState.INVALID_AUTHORIZATION, "no PostgreSQL user name specified in startup packet");
        }
        return new StartupMessage(protocol, params);
    }

    /** The NUL-terminated UTF-8 string at {@code in}'s reader index, which is left where it is (no duplicate needed). */
    public static String cStringAt(ByteBuf in) {
        return in.toString(in.readerIndex(), cStringEnd(in) - in.readerIndex(), StandardCharsets.UTF_8);
    }

    /** A NUL-terminated UTF-8 string, read (the reader index moves past its terminator). */
    public static String readCString(ByteBuf in) {
        int end = cStringEnd(in);
        String s = in.toString(in.readerIndex(), end - in.readerIndex(), StandardCharsets.UTF_8);
        in.readerIndex(end + 1);
        return s;
    }

    /** Where the string at the reader index ends; a missing terminator is a protocol violation. */
    private static int cStringEnd(ByteBuf in) {
        int end = in.indexOf(in.readerIndex(), in.writerIndex(), (byte) 0);
        if (end < 0) {
            throw new ProtocolException("invalid string in message: no terminating zero byte");
        }
        return end;
    }
}

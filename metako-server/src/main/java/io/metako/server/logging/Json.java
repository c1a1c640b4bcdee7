package io.metako.server.logging;

import java.util.List;
import java.util.Locale;

/** Small JSON objects written by hand (log lines, HTTP check answers): one escaping rule for all of them. */
public final class Json {
    private final StringBuilder sb = new StringBuilder("{");

    private Json() {
    }

    /** A new object; {@link #toString()} closes it. */
    public static Json object() {
        return new Json();
    }

    public Json put(String key, String value) {
        key(key);
        if (value == null) {
            sb.append("null");
        } else {
            quote(sb, value);
        }
        return this;
    }

    /** {@code value} nested as an object. */
    public Json put(String key, Json value) {
        key(key);
        sb.append(value);
        return this;
    }

    public Json put(String key, long value) {
        key(key);
        sb.append(value);
        return this;
    }

    public Json put(String key, double value) {
        key(key);
        sb.append(Double.isFinite(value) ? String.format(Locale.ROOT, "%.3f", value) : "null");
        return this;
    }

    public Json put(String key, boolean value) {
        key(key);
        sb.append(value);
        return this;
    }

    /** {@code values}, each already JSON (objects from {@link #object()}, or quoted text). */
    public Json putRaw(String key, List<String> values) {
        key(key);
        sb.append('[').append(String.join(",", values)).append(']');
        return this;
    }

    private void key(String key) {
        if (sb.length() > 1) {
            sb.append(',');
        }
        quote(sb, key);
        sb.append(':');
    }

    @Override
    public String toString() {
        return sb + "}";
    }

    /** Appends {@code s} as a JSON string. */
    public static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}

package io.metako.server.health;

/** PostgreSQL log sequence numbers ({@code 16/B374D848}) as unsigned 64-bit positions. */
public final class Lsn {
    private Lsn() {
    }

    /** Parses {@code X/Y}; returns -1 for null or empty text. */
    public static long parse(String text) {
        if (text == null || text.isEmpty()) {
            return -1;
        }
        int slash = text.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("not an LSN: " + text);
        }
        long hi = Long.parseLong(text.substring(0, slash), 16);
        long lo = Long.parseLong(text.substring(slash + 1), 16);
        return (hi << 32) | lo;
    }

    public static String format(long lsn) {
        return Long.toHexString(lsn >>> 32).toUpperCase() + "/" + Long.toHexString(lsn & 0xFFFFFFFFL).toUpperCase();
    }
}

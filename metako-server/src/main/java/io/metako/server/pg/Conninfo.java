package io.metako.server.pg;

/** libpq connection strings. */
public final class Conninfo {
    private Conninfo() {
    }

    /** A conninfo value in single quotes, with quotes and backslashes escaped: any host, user or path. */
    public static String value(String v) {
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }
}

package io.metako.server.pg;

import java.io.IOException;

/** A PostgreSQL control step failed; the message carries PostgreSQL's own last log lines. */
public final class PostgresException extends IOException {
    private static final long serialVersionUID = 1L;

    public PostgresException(String message) {
        super(message);
    }
}

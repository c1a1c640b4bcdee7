package io.metako.server.config;

import java.util.Optional;

/**
 * Asynchronous or synchronous replication, how many synchronous standbys, and where a replica reads the password
 * it streams with ({@code passfile}: a libpq password file on the nodes' hosts, so that {@code primary_conninfo}
 * carries no password; empty: the node's password goes into {@code primary_conninfo}).
 */
public record ReplicationConfig(Mode mode, int syncStandbys, Optional<String> passfile) {
    public enum Mode { ASYNC, SYNC }

    public ReplicationConfig(Mode mode, int syncStandbys) {
        this(mode, syncStandbys, Optional.empty());
    }
}

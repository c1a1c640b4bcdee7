package io.metako.server.config;

/** Asynchronous or synchronous replication, and how many synchronous standbys. */
public record ReplicationConfig(Mode mode, int syncStandbys) {
    public enum Mode { ASYNC, SYNC }
}

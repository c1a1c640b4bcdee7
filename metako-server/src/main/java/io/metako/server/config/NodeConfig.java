package io.metako.server.config;

/**
 * A PostgreSQL node and how to log in to it. {@code initialRole} is only a hint for the first
 * bootstrap: afterwards the replicated state says who is primary.
 */
public record NodeConfig(
        String name,
        String host,
        int port,
        Role initialRole,
        String username,
        Secret password,
        String database,
        int priority,
        boolean nofailover,
        boolean noloadbalance) {

    /** The role hint; the seed's {@code master}/{@code slave} are accepted as synonyms. */
    public enum Role { PRIMARY, REPLICA }

    public String address() {
        return host + ":" + port;
    }
}

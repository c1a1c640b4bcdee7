package io.metako.proxy.routing;

import java.util.List;
import java.util.Optional;

/**
 * Where the proxy may send traffic, as one immutable value the server publishes on every applied
 * topology change and every change of this instance's write lease. The proxy never looks past it:
 * a node absent from the table (quarantined, unknown, unhealthy) gets no traffic.
 *
 * @param epoch     the topology epoch this table belongs to; writes are routed for one epoch at a time
 * @param primary   the node receiving writes, empty while a failover is in progress
 * @param replicas  replicas fit for reads (healthy by majority, within the lag bound), best first
 * @param writable  this instance held the write lease when the table was made: without it, writes must fail closed
 * @param lease     the lease itself, asked again at every use ({@link #writableNow}): a table can outlive its lease
 * @param balance   how reads are spread over the replicas: the cluster's replicated {@code load_balancer.algorithm},
 *                  so every proxy changes it with the table that carries the change
 */
public record RoutingTable(long epoch, Optional<Backend> primary, List<Replica> replicas, boolean writable, WriteLease lease,
                           Balance balance, String closed) {

    public RoutingTable {
        replicas = List.copyOf(replicas);
        java.util.Objects.requireNonNull(balance, "balance");
    }

    /** An open table (see {@link #closed(String)}). */
    public RoutingTable(long epoch, Optional<Backend> primary, List<Replica> replicas, boolean writable, WriteLease lease,
                        Balance balance) {
        this(epoch, primary, replicas, writable, lease, balance, null);
    }

    /**
     * Nothing is routed through this instance any more, and nothing is worth waiting for: a session's next statement
     * ends it with {@code reason}, and a new forwarded connection is closed at once (an instance removed from the
     * Raft group).
     */
    public static RoutingTable closed(String reason) {
        return new RoutingTable(0, Optional.empty(), List.of(), false, NEVER, Balance.CONFIGURED,
                java.util.Objects.requireNonNull(reason, "reason"));
    }

    /** The lease of closed tables: never granted; one object, so that two closed tables with one reason are equal. */
    private static final WriteLease NEVER = WriteLease.create();

    /** A table that leaves the read balancing to the port's own setting. */
    public RoutingTable(long epoch, Optional<Backend> primary, List<Replica> replicas, boolean writable, WriteLease lease) {
        this(epoch, primary, replicas, writable, lease, Balance.CONFIGURED);
    }

    /** A table whose writability never lapses by itself (tests of the proxy alone). */
    public RoutingTable(long epoch, Optional<Backend> primary, List<Replica> replicas, boolean writable) {
        this(epoch, primary, replicas, writable, WriteLease.always());
    }

    /** How reads are spread over the replicas fit for them. */
    public enum Balance {
        /** the port's own setting (a proxy started without a replicated one: tests, standalone use) */
        CONFIGURED,
        /** each replica in turn */
        ROUND_ROBIN,
        /** the replica with the fewest connections of this port */
        LEAST_CONNECTIONS
    }

    /** A PostgreSQL server the proxy can connect to. */
    public record Backend(String name, String host, int port) {
    }

    /**
     * A replica fit for reads, with how far behind it is, the WAL position it has replayed (-1 when
     * unknown; read-your-writes compares it) and whether it takes balanced reads.
     */
    public record Replica(Backend backend, long lagBytes, double lagSeconds, boolean loadBalanced, long replayLsn) {
        public Replica(Backend backend, long lagBytes, double lagSeconds, boolean loadBalanced) {
            this(backend, lagBytes, lagSeconds, loadBalanced, -1);
        }
    }

    /** Nothing known yet: no primary, no replicas, not writable. */
    public static RoutingTable unknown() {
        return new RoutingTable(0, Optional.empty(), List.of(), false);
    }

    /** Whether this instance holds the write lease for this table's epoch at this moment. */
    public boolean writableNow() {
        return writable && lease.validFor(epoch);
    }

    /** Whether writes may be routed now: a primary exists and this instance holds the lease for this epoch. */
    public boolean acceptsWrites() {
        return primary.isPresent() && writableNow();
    }

    /** Whether an answer of {@code b}'s, routed there as the primary, may reach the client now. */
    public boolean primaryNow(Backend b) {
        return primary.filter(b::equals).isPresent() && writableNow();
    }

    /** Whether {@code b} may serve anything now: the primary while writes are accepted, or a replica fit for reads. */
    public boolean serves(Backend b) {
        if (acceptsWrites() && primary.get().equals(b)) {
            return true;
        }
        for (Replica r : replicas) {
            if (r.backend().equals(b)) {
                return true;
            }
        }
        return false;
    }
}

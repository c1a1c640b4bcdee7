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
 * @param writable  this instance holds the write lease: without it, writes must fail closed
 */
public record RoutingTable(long epoch, Optional<Backend> primary, List<Replica> replicas, boolean writable) {

    public RoutingTable {
        replicas = List.copyOf(replicas);
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

    /** Whether writes may be routed now: a primary exists and this instance holds the lease. */
    public boolean acceptsWrites() {
        return writable && primary.isPresent();
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

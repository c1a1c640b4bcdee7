package io.metako.proxy.route;

import io.metako.proxy.routing.RoutingTable;

/** Where one statement goes. */
public sealed interface RouteTarget {
    /** The primary of the routing table's epoch. */
    record Primary(RoutingTable.Backend backend) implements RouteTarget {
    }

    /** A replica, for a read. */
    record Replica(RoutingTable.Backend backend) implements RouteTarget {
    }

    /** The backend the session's transaction runs on. */
    record Transaction(RoutingTable.Backend backend) implements RouteTarget {
    }

    /** Session state (SET, RESET, DISCARD): applied on every backend the session uses and remembered for new ones. */
    record EverySessionBackend() implements RouteTarget {
    }

    /**
     * Nowhere now: no primary (a failover is running) or no write lease here. The statement waits up to
     * {@code proxy.failover_wait} for a new table, then fails with a retryable error ({@code sqlState}); with
     * {@code now}, nothing is worth waiting for (the instance left the group): the session ends at once.
     */
    record Wait(String reason, String sqlState, boolean now) implements RouteTarget {
        public Wait(String reason, String sqlState) {
            this(reason, sqlState, false);
        }
    }
}

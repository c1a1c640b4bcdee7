package io.metako.proxy.route;

import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.routing.RoutingTable;
import java.util.List;
import java.util.Optional;

/**
 * {@code route(statement, session, table) -> target}, a pure function (the selector carries the
 * balancing state). Inside a transaction everything stays where it started; outside, provable
 * reads go to a replica fit for this session and everything else to the primary, which needs
 * the write lease: without it, the statement waits for a new table rather than risk a second
 * writable primary.
 */
public final class Router {
    private Router() {
    }

    /**
     * @param staleReads {@code proxy.stale_reads}: whether reads may still be served while this
     *                   instance holds no lease (its view of the topology may be out of date)
     */
    public static RouteTarget route(Classification c, SessionRouting session, RoutingTable table, ReplicaSelector selector,
                                    boolean staleReads) {
        if (table.closed() != null) {
            return new RouteTarget.Wait(table.closed(), SqlState.CANNOT_CONNECT_NOW, true);
        }
        if (session.inTransaction()) { // even a BEGIN: PostgreSQL only warns, the transaction goes on where it is
            RoutingTable.Backend b = session.transactionBackend().orElseThrow();
            boolean onReplica = table.replicas().stream().anyMatch(r -> r.backend().equals(b));
            if (!onReplica && !table.primaryNow(b)) {
                // a transaction on the primary writes under the lease like any write, statement by statement
                return new RouteTarget.Wait("this instance holds no write lease for the transaction's node " + b.name(),
                        SqlState.CONNECTION_FAILURE);
            }
            return new RouteTarget.Transaction(b);
        }
        if (c.kind() == StatementKind.SESSION) {
            return new RouteTarget.EverySessionBackend();
        }
        boolean readable = c.replicaEligible();
        if (readable && !table.writableNow() && !staleReads) {
            return new RouteTarget.Wait("this instance holds no lease and proxy.stale_reads is off",
                    SqlState.CONNECTION_FAILURE);
        }
        if (readable) {
            List<RoutingTable.Replica> eligible = table.replicas().stream().filter(RoutingTable.Replica::loadBalanced)
                    .filter(r -> session.minReplayLsn() < 0 || r.replayLsn() >= session.minReplayLsn()).toList();
            Optional<RoutingTable.Replica> chosen = selector.select(eligible);
            if (chosen.isPresent()) {
                return new RouteTarget.Replica(chosen.get().backend());
            }
            if (table.primary().isPresent()) {
                return new RouteTarget.Primary(table.primary().get()); // reads need no lease: the primary is current
            }
            return new RouteTarget.Wait("no primary and no readable replica at epoch " + table.epoch(),
                    SqlState.CANNOT_CONNECT_NOW);
        }
        if (table.primary().isEmpty()) {
            return new RouteTarget.Wait("no primary at epoch " + table.epoch() + ": a failover is in progress",
                    SqlState.CANNOT_CONNECT_NOW);
        }
        if (!table.writableNow()) {
            return new RouteTarget.Wait("this instance holds no write lease (it cannot hear the metako quorum)",
                    SqlState.CONNECTION_FAILURE);
        }
        return new RouteTarget.Primary(table.primary().get());
    }
}

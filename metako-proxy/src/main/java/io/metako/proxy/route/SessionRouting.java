package io.metako.proxy.route;

import io.metako.proxy.routing.RoutingTable;
import java.util.Optional;

/**
 * What the router needs to know of one client session.
 *
 * @param transactionBackend where the open transaction runs, empty outside a transaction
 * @param minReplayLsn       read-your-writes: after this session wrote, a replica must have replayed
 *                           at least this WAL position to serve its reads (-1: no constraint)
 */
public record SessionRouting(Optional<RoutingTable.Backend> transactionBackend, long minReplayLsn) {
    public static SessionRouting idle() {
        return new SessionRouting(Optional.empty(), -1);
    }

    public boolean inTransaction() {
        return transactionBackend.isPresent();
    }
}

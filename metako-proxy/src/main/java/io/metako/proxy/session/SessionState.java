package io.metako.proxy.session;

import io.metako.proxy.route.ReplicaSelector;
import io.metako.proxy.route.SessionRouting;
import io.metako.proxy.routing.RoutingTable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * What a client session has done that its later statements and its other backends must follow: the
 * session settings (SET, RESET, DISCARD) to replay on every backend it uses, read-your-writes (after a
 * write, reads wait for a replica that has replayed it), the replica it reads from, and the transaction
 * status PostgreSQL last reported.
 */
final class SessionState {
    private static final int MAX_SETTINGS = 1000;

    private final List<String> settings = new ArrayList<>();
    /** SET / RESET / DISCARD statements of the unit in flight, replayed elsewhere once it succeeded. */
    private List<String> pending = List.of();
    private boolean wrote;
    private long minReplayLsn = -1;
    /**
     * The replica this session reads from while it stays eligible: reads are balanced per session, so
     * a session never sees time go backwards by reading from a replica behind the one it read before,
     * and holds one replica connection, not one per replica.
     */
    private RoutingTable.Backend readReplica;
    private char txStatus = 'I';

    char txStatus() {
        return txStatus;
    }

    void txStatus(char status) {
        txStatus = status;
    }

    /** The settings a new backend of the session gets before its first unit. */
    List<String> settings() {
        return settings;
    }

    /** The session statements of the unit being routed (empty: none). */
    void pending(List<String> statements) {
        pending = statements;
    }

    /** The session statements of the unit that just ended, handed over once. */
    List<String> takePending() {
        List<String> p = pending;
        pending = List.of();
        return p;
    }

    /**
     * A SET / RESET / DISCARD ran: remembered for the backends the session opens later. True when it
     * dropped the session's prepared statements too (DISCARD ALL).
     */
    boolean changed(String sql) {
        String upper = sql.strip().toUpperCase(Locale.ROOT);
        boolean discardAll = upper.startsWith("DISCARD ALL");
        if (discardAll || upper.startsWith("RESET ALL")) {
            settings.clear();
        } else if (settings.size() < MAX_SETTINGS) {
            settings.add(sql);
        }
        return discardAll;
    }

    /** A unit that may write was routed to the primary. */
    void wrote() {
        wrote = true;
    }

    /** Once outside a transaction after a write: true once per write, when the caller should ask the primary's LSN. */
    boolean takeWrite() {
        boolean w = wrote;
        wrote = false;
        return w;
    }

    /** Reads stay on the primary until the LSN asked for is known. */
    void awaitLsn() {
        minReplayLsn = Long.MAX_VALUE;
    }

    void lsnObserved(long lsn) {
        minReplayLsn = lsn >= 0 ? lsn : Long.MAX_VALUE;
    }

    /** What the router needs to know of this session; {@code transaction}: where its transaction runs, if one is open. */
    SessionRouting routing(RoutingTable.Backend transaction) {
        return new SessionRouting(Optional.ofNullable(transaction), minReplayLsn);
    }

    /** The session's read replica while it is eligible, else a new one chosen by {@code selector}. */
    Optional<RoutingTable.Replica> selectReadReplica(List<RoutingTable.Replica> eligible, ReplicaSelector selector) {
        if (readReplica != null) {
            for (RoutingTable.Replica r : eligible) {
                if (r.backend().equals(readReplica)) {
                    return Optional.of(r);
                }
            }
        }
        Optional<RoutingTable.Replica> chosen = selector.select(eligible);
        chosen.ifPresent(r -> readReplica = r.backend());
        return chosen;
    }
}

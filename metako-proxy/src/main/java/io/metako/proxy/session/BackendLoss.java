package io.metako.proxy.session;

import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.route.RouteTarget;
import io.metako.proxy.routing.RoutingTable;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a session does when it lacks the backend it needs: its first backend is connected, and tried again
 * while a failover may be under way; a backend that fails to log in, goes away, or leaves the routing
 * table has the unit it was given run again elsewhere when that is safe (nothing of it was answered and it
 * changes nothing), waits for a new table, or ends the session with an error that says what was lost.
 * The one place that decides whether a unit may run twice.
 */
final class BackendLoss {
    private static final Logger LOG = LoggerFactory.getLogger(BackendLoss.class);

    private final ClientSession session;
    private final StatementRouter router;
    private final SessionLinks links;
    private final UnitDispatcher dispatcher;
    private final RetryBuffer retry;
    private final long connectDeadline;

    BackendLoss(ClientSession session, StatementRouter router, SessionLinks links, UnitDispatcher dispatcher) {
        this.session = session;
        this.router = router;
        this.links = links;
        this.dispatcher = dispatcher;
        this.retry = session.retry;
        this.connectDeadline = System.nanoTime() + router.settings().failoverWait().toNanos();
    }

    /**
     * How long a login waits for its first backend (at most half of proxy.failover_wait) before it completes
     * with the parameters of an earlier one.
     */
    static final long HOME_GRACE_MILLIS = 1_000;

    private boolean graceScheduled;

    /** The first backend: the primary if writes are accepted here, else a replica for reads. */
    void connectHome() {
        if (session.phase() != ClientSession.Phase.CONNECTING) {
            return;
        }
        RoutingTable t = router.table();
        Optional<RoutingTable.Backend> b = t.acceptsWrites() ? t.primary() : Optional.empty();
        if (b.isEmpty() && (t.writableNow() || router.settings().staleReads())) {
            b = router.selector(t).select(t.replicas()).map(RoutingTable.Replica::backend);
        }
        if (b.isPresent()) {
            links.home = links.open(b.get());
            if (links.home.phase() == BackendLink.Phase.READY) {
                session.linkReady(links.home); // reused: logged in already
            } else if (!graceScheduled) {
                graceScheduled = true; // one unreachable or frozen node must not make the login hang
                long grace = Math.min(HOME_GRACE_MILLIS, router.settings().failoverWait().toMillis() / 2);
                session.client.eventLoop().schedule(session::completeLoginWithoutBackend, grace, TimeUnit.MILLISECONDS);
            }
            return;
        }
        if (session.completeLoginWithoutBackend()) {
            return; // nothing routable now (a failover, no lease): the login need not wait for it
        }
        if (System.nanoTime() > connectDeadline) {
            session.fatal(SqlState.CANNOT_CONNECT_NOW, "no primary or readable replica reachable through this metako"
                    + " instance within proxy.failover_wait (" + router.settings().failoverWait().toMillis() + " ms): a"
                    + " failover may be in progress; retry");
        } else {
            retryHomeLater();
        }
    }

    private void retryHomeLater() {
        session.client.eventLoop().schedule(this::connectHome, UnitDispatcher.RETRY_MILLIS, TimeUnit.MILLISECONDS);
    }

    /**
     * True when the unit in flight on {@code link} can run again elsewhere: it changes nothing, was sent and has not
     * been answered, and no transaction is open. Asked when that backend ends the connection (its FATAL is then not
     * passed on), closes it, or leaves the routing table.
     */
    boolean retryInstead(BackendLink link) {
        return link == links.current && retry.holding() && links.transaction == null;
    }

    /** {@code link} closed while the session was open; {@code was}: the phase it was in. */
    void linkClosed(BackendLink link, BackendLink.Phase was) {
        if (was != BackendLink.Phase.READY) {
            loginEnded(link);
            return;
        }
        if (retryInstead(link)) {
            LOG.info("backend {} went away before answering a statement that changed nothing; routing it again",
                    link.backend.name());
            dispatcher.routeAgain(link);
            dispatcher.drain();
            return;
        }
        if (link == links.transaction) {
            session.fatal(SqlState.CONNECTION_FAILURE, "backend " + link.backend.name() + " closed the connection: the"
                    + " transaction open on it is lost; reconnect and retry the transaction");
        } else if (link == links.current) {
            session.fatal(SqlState.CONNECTION_FAILURE, "backend " + link.backend.name() + " closed the connection while"
                    + " running a statement that may have changed data, so its outcome is unknown; reconnect and check");
        }
    }

    /** A link closed before it logged in: the login is tried again, or what waited for it fails. */
    private void loginEnded(BackendLink link) {
        BackendLink.LoginFailure failure = link.loginFailure();
        String why = failure != null ? failure.message() : "the connection closed during login";
        String finalState = failure != null ? failure.sqlState() : null;
        if (session.phase() == ClientSession.Phase.CONNECTING && link == links.home) {
            if (finalState != null) {
                session.fatal(finalState, why); // e.g. the database does not exist: as PostgreSQL says it
            } else if (session.completeLoginWithoutBackend()) {
                links.home = null; // its statements find a backend when they are routed
            } else if (System.nanoTime() < connectDeadline) {
                retryHomeLater();
            } else {
                session.fatal(SqlState.CONNECTION_FAILURE, "backend " + link.backend.name() + ": " + why);
            }
            return;
        }
        if (link == links.current) {
            links.current = null;
            retry.drop();
            if (finalState != null) {
                dispatcher.failUnit(finalState, "backend " + link.backend.name() + ": " + why);
            } else if (!dispatcher.waitOrFail(new RouteTarget.Wait("backend " + link.backend.name() + " is unreachable ("
                    + why + ")", SqlState.CONNECTION_FAILURE))) {
                return; // nothing was sent: try again when the table moves on (failover) or the node is back
            }
            dispatcher.drain();
        }
    }

    /**
     * Drops backends the table no longer allows. A session whose transaction (or statement in
     * flight) runs on one is ended with 57P01: it must not go on writing to an old primary.
     */
    void tableChanged(RoutingTable t) {
        boolean ready = session.ready();
        boolean reroute = false;
        for (BackendLink link : links.all()) {
            if (t.serves(link.backend)) {
                continue;
            }
            boolean loggingIn = link == links.current && links.transaction == null && link.phase() != BackendLink.Phase.READY;
            if (ready && (loggingIn || retryInstead(link))) {
                // the unit waits for this connection to log in (nothing of it was sent), or it changes nothing
                // and has not been answered: it runs where the new table says, the client notices nothing
                LOG.info("proxy session {}: node {} left the table at epoch {} before answering; the statement is"
                        + " routed again", session.processId, link.backend.name(), t.epoch());
                dispatcher.routeAgain(link);
                reroute = true;
            } else if (ready && (link == links.current || link == links.transaction)) {
                LOG.info("proxy session {}: ended, its {} is on node {} (backend connection {}) which epoch {} no longer"
                        + " allows", session.processId, link == links.transaction ? "transaction" : "statement in flight",
                        link.backend.name(), link.phase(), t.epoch());
                session.fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection: node " + link.backend.name()
                        + " no longer serves this session at epoch " + t.epoch() + " (failover, switchover or lost lease);"
                        + " reconnect and retry the transaction");
                return;
            }
            links.drop(link);
            link.close();
        }
        if (reroute || dispatcher.waiting()) {
            dispatcher.drain();
        }
    }
}

package io.metako.proxy.session;

import io.metako.proxy.protocol.BackendMessages;
import io.metako.proxy.protocol.Frame;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.protocol.ProtocolException;
import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.route.Classification;
import io.metako.proxy.route.RouteTarget;
import io.metako.proxy.route.Router;
import io.metako.proxy.route.StatementClassifier;
import io.metako.proxy.route.StatementKind;
import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends a session's units to their backends, one unit at a time: when none is in flight, the unit at the
 * head of the {@link UnitQueue} is classified whole and routed ({@link Router} decides; this class adds
 * which of the session's links is which); while one is in flight, whatever the client sends next
 * (pipelined units, COPY data) follows it to the same backend. A unit with nowhere to go waits up to
 * {@code proxy.failover_wait}, then is answered with a retryable error.
 *
 * <p>Buffers: frames leave the queue here and are handed to a backend link (which releases them).
 */
final class UnitDispatcher {
    private static final Logger LOG = LoggerFactory.getLogger(UnitDispatcher.class);
    static final long RETRY_MILLIS = 100;
    /** Kinds of unit that change nothing when run outside a transaction, so may run again elsewhere. */
    private static final Set<StatementKind> RETRYABLE = EnumSet.of(StatementKind.READ, StatementKind.BEGIN,
            StatementKind.BEGIN_READ_ONLY, StatementKind.SESSION);

    private final ClientSession session;
    private final StatementRouter router;
    private final Channel client;
    private final SessionLinks links;
    private final UnitQueue queue;
    private final SessionState state;
    private final SessionStatements statements;
    private final RetryBuffer retry;
    private boolean needMoreInput;
    /**
     * The unit in flight went where the Router did not send it (a DEALLOCATE to the backend holding its
     * statement): what the client sends next waits for its answer instead of following it there unrouted.
     */
    private boolean alone;
    private boolean draining;
    private boolean drainAgain;
    /** When the unit waiting for a backend gives up (System.nanoTime); 0: none is waiting. */
    private long waitDeadline;
    /** When the unit at the head began to wait for a table (nanoTime); 0 while none waits. */
    private long waitStarted;
    private ScheduledFuture<?> retryTimer;

    UnitDispatcher(ClientSession session, StatementRouter router, SessionLinks links) {
        this.session = session;
        this.router = router;
        this.client = session.client;
        this.links = links;
        this.queue = session.queue;
        this.state = session.state;
        this.statements = session.statements;
        this.retry = session.retry;
    }

    /** Sends on what can go now; runs again when called from inside (a link reused while routing). */
    void drain() {
        if (draining) {
            drainAgain = true;
            return;
        }
        draining = true;
        try {
            do {
                drainAgain = false;
                drainOnce();
            } while (drainAgain && session.ready());
            if (links.current != null) {
                links.current.flush();
            }
        } finally {
            draining = false;
        }
        readClient();
    }

    private void drainOnce() {
        needMoreInput = false;
        while (session.ready() && !queue.isEmpty()) {
            if (queue.discarding()) {
                if (queue.discardOne()) {
                    client.writeAndFlush(BackendMessages.readyForQuery(client.alloc(), state.txStatus()));
                }
                continue;
            }
            BackendLink current = links.current;
            if (current != null) {
                if (current.phase() != BackendLink.Phase.READY || !current.writable()) {
                    return; // logging in, or backpressure: linkReady / writabilityChanged drain again
                }
                if (alone && current.busy()) {
                    return; // clientUnitDone drains again once it is answered
                }
                if (current.leaseBound() && !router.table().primaryNow(current.backend)) {
                    return; // pipelined behind a unit on the primary: held until that unit is answered, then routed
                }
                Frame f = queue.poll();
                retry.sending(f); // the same bytes, rewound if the unit has to run again
                forward(current, f);
                continue;
            }
            byte type = queue.headType();
            if (type == FrontendMessages.TERMINATE) {
                queue.poll().release();
                session.terminate();
                return;
            }
            if (type == FrontendMessages.COPY_DATA || type == FrontendMessages.COPY_DONE || type == FrontendMessages.COPY_FAIL) {
                queue.poll().release(); // outside COPY, as PostgreSQL does: ignored
                continue;
            }
            int end = queue.unitEnd();
            if (end < 0 && !queue.overLimit()) {
                needMoreInput = true;
                return;
            }
            if (!route(end)) {
                return;
            }
        }
    }

    /**
     * Chooses the backend for the unit at the head of the queue ({@code [0, end]}, or the head of a unit
     * over the buffer limit when {@code end} is -1) and makes it current; false when it has to wait (for a
     * primary, a lease) and will be tried again.
     */
    private boolean route(int end) {
        Classification c = end < 0 ? new Classification(StatementKind.WRITE, true, 1) : statements.classifyUnit(queue, end);
        BackendLink target = null;
        state.pending(List.of());
        if (c == null && links.transaction == null) {
            target = links.last != null ? links.last : links.home; // Sync alone, Describe of a portal: no statement to route
            if (target != null && target.phase() == BackendLink.Phase.CLOSED) {
                target = null;
            }
        }
        RoutingTable table = target == null ? router.table() : null; // read once per unit
        alone = false;
        if (target == null && links.transaction == null) {
            target = statements.deallocatingOn(links.live(), table);
            alone = target != null;
        }
        if (target == null) {
            Classification routed = c != null ? c : new Classification(StatementKind.READ, false, 0);
            RouteTarget t = Router.route(routed, state.routing(links.transaction == null ? null : links.transaction.backend),
                    table, eligible -> state.selectReadReplica(eligible, router.selector(table)), router.settings().staleReads());
            if (t instanceof RouteTarget.Wait w) {
                return waitOrFail(w);
            }
            RoutingTable.Backend b;
            if (t instanceof RouteTarget.Primary p) {
                b = p.backend();
                if (routed.kind() != StatementKind.READ) {
                    state.wrote();
                }
            } else if (t instanceof RouteTarget.Replica r) {
                b = r.backend();
            } else if (t instanceof RouteTarget.Transaction) {
                b = links.transaction.backend;
            } else {
                b = sessionBackend(table);
                if (b == null && links.all().isEmpty() && answerSettingsHere(end)) {
                    return true; // answered: the next unit is routed on its own
                }
                if (b == null) {
                    return waitOrFail(new RouteTarget.Wait("no backend for a session setting", SqlState.CANNOT_CONNECT_NOW));
                }
                state.pending(List.of(queue.unitSql(end)));
            }
            target = links.to(b);
            if (target == null) {
                target = links.open(b);
                if (target.phase() == BackendLink.Phase.READY) {
                    session.linkReady(target); // reused: the session's SETs go first; its drain() only marks another round
                }
            }
            if (t instanceof RouteTarget.Primary || t instanceof RouteTarget.Replica) {
                // a read's late answer is at worst stale, and it may run again elsewhere: only what may write
                // (the hint exists for functions that write) must not be acknowledged without the lease
                target.leaseBound(t instanceof RouteTarget.Primary, t instanceof RouteTarget.Primary
                        && (routed.kind() != StatementKind.READ || routed.forcePrimary()));
            }
        }
        if (c != null && end >= 0 && c.statements() > 1 && c.kind() != StatementKind.SESSION) {
            // "SET search_path = x; SELECT ..." runs where its other statements go; its SETs must still
            // reach the session's other backends (pgjdbc sends such a string as one Parse per statement)
            state.pending(StatementClassifier.sessionStatements(queue.unitSql(end)));
        }
        if (c != null) {
            // what the unit is and where it went, for the statistics; the route is the node's role in the table
            RoutingTable seen = table != null ? table : router.table();
            boolean primary = seen.primary().isPresent() && seen.primary().get().equals(target.backend);
            target.route(primary);
            router.observer().routed(target.backend.name(), primary, c.kind());
            session.limitUnit(target, c.kind());
        }
        waitOver(true);
        links.current = target;
        // a unit forced to the primary (/* metako:primary */, for functions that write) may have side effects
        retry.start(end >= 0 && links.transaction == null && !target.busy()
                        && (c == null || RETRYABLE.contains(c.kind()) && !c.forcePrimary()),
                end + 1);
        return true;
    }

    /** Where a SET goes first: a backend the session already uses, else any the table offers. */
    private RoutingTable.Backend sessionBackend(RoutingTable table) {
        RoutingTable.Backend used = links.inUse();
        if (used != null) {
            return used;
        }
        if (table.acceptsWrites()) {
            return table.primary().orElse(null);
        }
        return router.selector(table).select(table.replicas()).map(RoutingTable.Replica::backend).orElse(null);
    }

    /**
     * A unit of session settings ({@code SET}, {@code RESET}, ...) while the session has no backend and none
     * can take it (no lease, no readable replica): the proxy answers it itself and keeps the settings as the
     * session's state, which every backend the session opens later gets first ({@code ClientSession.linkReady}).
     * pgjdbc sends such SETs while connecting, so otherwise a login through an instance without a lease waited
     * for {@code proxy.failover_wait}. False, and nothing consumed, when the unit holds anything but unnamed
     * Parse/Bind, Describe, Execute, Close, Flush and Sync around its statements: it then waits as before.
     * A setting a node later refuses is only logged there, as for any replayed setting.
     */
    private boolean answerSettingsHere(int end) {
        String sql = queue.unitSql(end);
        List<String> statementsOfUnit = StatementClassifier.sessionStatements(sql);
        if (statementsOfUnit.isEmpty()) {
            return false;
        }
        List<ByteBuf> answers = new java.util.ArrayList<>();
        int i = 0;
        for (Frame f : queue) {
            if (i++ > end) {
                break;
            }
            switch (f.type()) {
                case FrontendMessages.QUERY -> {
                    statementsOfUnit.forEach(st -> answers.add(BackendMessages.commandComplete(client.alloc(), tagOf(st))));
                    answers.add(BackendMessages.readyForQuery(client.alloc(), state.txStatus()));
                }
                case FrontendMessages.PARSE -> {
                    if (!FrontendMessages.Parse.parse(f.payload()).statement().isEmpty()) {
                        answers.forEach(ByteBuf::release);
                        return false; // a named statement would have to exist somewhere afterwards
                    }
                    answers.add(BackendMessages.empty(client.alloc(), '1'));
                }
                case FrontendMessages.BIND -> answers.add(BackendMessages.empty(client.alloc(), '2'));
                case FrontendMessages.DESCRIBE -> {
                    if (f.payload().getByte(f.payload().readerIndex()) == 'S') {
                        answers.add(BackendMessages.noParameters(client.alloc()));
                    }
                    answers.add(BackendMessages.empty(client.alloc(), 'n'));
                }
                case FrontendMessages.EXECUTE -> answers.add(BackendMessages.commandComplete(client.alloc(),
                        tagOf(statementsOfUnit.get(0))));
                case FrontendMessages.CLOSE -> answers.add(BackendMessages.empty(client.alloc(), '3'));
                case FrontendMessages.SYNC -> answers.add(BackendMessages.readyForQuery(client.alloc(), state.txStatus()));
                case FrontendMessages.FLUSH -> {
                    // nothing to answer
                }
                default -> {
                    answers.forEach(ByteBuf::release);
                    return false;
                }
            }
        }
        statements.unitDropped();
        queue.dropUnit(end);
        if (state.changed(sql)) {
            statements.forgetAll(links.live());
        }
        answers.forEach(a -> client.write(a, client.voidPromise()));
        client.flush();
        stopWaiting();
        LOG.debug("proxy session {}: no backend can take a session setting now; answered it and keep it for later: {}",
                session.processId, sql);
        return true;
    }

    /** The CommandComplete tag PostgreSQL gives a session statement: its first word, DISCARD with its target. */
    private static String tagOf(String statement) {
        String[] words = statement.strip().split("\\s+", 3);
        String first = words[0].toUpperCase(java.util.Locale.ROOT);
        return first.equals("DISCARD") && words.length > 1 ? first + " " + words[1].toUpperCase(java.util.Locale.ROOT)
                .replace(";", "") : first;
    }

    /** The unit at the head waits for a new table, until proxy.failover_wait is over; true once it gave up. */
    boolean waitOrFail(RouteTarget.Wait w) {
        long now = System.nanoTime();
        if (w.now()) {
            // nothing will ever be routed here again: the session ends, so its backends close and an open
            // transaction is rolled back on the primary instead of holding its locks
            waitDeadline = 0;
            waitOver(false);
            session.fatal(w.sqlState(), w.reason());
            return true;
        }
        if (waitDeadline == 0) {
            waitDeadline = now + router.settings().failoverWait().toNanos();
        }
        if (waitStarted == 0) {
            waitStarted = now;
        }
        if (now - waitDeadline >= 0) {
            waitDeadline = 0;
            waitOver(false);
            failUnit(w.sqlState(), w.reason() + "; gave up after proxy.failover_wait ("
                    + router.settings().failoverWait().toMillis() + " ms), retry the transaction");
            return true;
        }
        if (retryTimer == null) {
            retryTimer = client.eventLoop().schedule(() -> {
                retryTimer = null;
                drain();
            }, RETRY_MILLIS, TimeUnit.MILLISECONDS);
        }
        return false;
    }

    /** Whether a unit is waiting for a backend to route it to. */
    boolean waiting() {
        return waitDeadline != 0;
    }

    /** The unit's wait is over: it was answered, or it ends otherwise. */
    void stopWaiting() {
        waitDeadline = 0;
    }

    /** The unit that waited for a table is routed ({@code routed}), or answered with an error: for statistics. */
    private void waitOver(boolean routed) {
        if (waitStarted != 0) {
            router.observer().waited(System.nanoTime() - waitStarted, routed);
            waitStarted = 0;
        }
    }

    /** Answers the unit at the head of the queue with an error instead of running it. */
    void failUnit(String sqlState, String message) {
        statements.unitDropped();
        int end = queue.unitEnd();
        byte last = queue.dropUnit(end);
        router.observer().error("", sqlState);
        client.write(BackendMessages.errorResponse(client.alloc(), "ERROR", sqlState, message));
        if (end >= 0 && last != FrontendMessages.FLUSH) {
            client.write(BackendMessages.readyForQuery(client.alloc(), state.txStatus()));
        } else {
            queue.discardUntilSync();
        }
        client.flush();
    }

    /**
     * Gives up {@code link} as the runner of the current unit: the frames already sent to it (a unit that
     * changes nothing and was not answered) go back to the head of the queue, rewound, to be routed again.
     */
    void routeAgain(BackendLink link) {
        session.unitLimitOver(link);
        retry.moveTo(queue);
        links.current = null;
        if (link == links.last) {
            links.last = null;
        }
    }

    /** Sends one client message to {@code link}, keeping prepared statements in step. Takes the frame. */
    private void forward(BackendLink link, Frame f) {
        try {
            statements.beforeSend(link, f);
        } catch (ProtocolException e) {
            f.release();
            throw e;
        }
        link.sendClient(f.wire(), f.type());
    }

    /** Asks the client for more when the queue holds nothing to send, or only part of a unit. */
    void readClient() {
        if (session.ready() && (queue.isEmpty() || needMoreInput)) {
            client.read();
        }
    }

    /** Cancels what runs now, as PostgreSQL would: a CancelRequest to the backend running it. */
    void cancel() {
        BackendLink l = links.current;
        if (l == null && waiting()) {
            // still waiting for a primary: the statement has not started anywhere, so it ends here
            stopWaiting();
            waitOver(false);
            failUnit(SqlState.QUERY_CANCELED, "canceling statement due to user request");
            drain();
        } else if (l != null && l.phase() == BackendLink.Phase.READY) {
            session.clientCancelled();
            router.forwardCancel(client.eventLoop(), l.backend, l.processId(), l.secretKey());
        }
    }

    void close() {
        if (retryTimer != null) {
            retryTimer.cancel(false);
        }
    }
}

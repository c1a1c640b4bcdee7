package io.metako.proxy.session;

import io.metako.proxy.protocol.BackendMessages;
import io.metako.proxy.protocol.Frame;
import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One logged-in client of the statement router: it takes the channel from {@link ClientLogin}, connects
 * its first backend (whose parameters the client sees), then serves the client's units, which its
 * {@link UnitDispatcher} routes, and owns the links they run on ({@link LinkOwner}): what a backend
 * answers is relayed, a backend that goes away or leaves the routing table either has its unit run again
 * elsewhere (when that is safe) or ends the session with a clear error. Phases: LOGIN (not yet in the
 * pipeline) -> CONNECTING -> READY -> CLOSED.
 *
 * <p>Buffers: client frames are queued ({@link UnitQueue}) until sent; backend bytes arrive through
 * {@link #relay}. Everything runs on the client channel's event loop, the backend channels included.
 */
final class ClientSession extends ChannelInboundHandlerAdapter implements LinkOwner {
    private static final Logger LOG = LoggerFactory.getLogger(ClientSession.class);

    enum Phase { LOGIN, CONNECTING, READY, CLOSED }

    private final StatementRouter router;
    /** The last bytes relayed to the client ended inside a message (a long row streaming through). */
    private boolean relayedPartial;
    final Channel client;
    final int processId;
    final int secretKey;
    /** Counted against max_client_connections (from its StartupMessage until it ends). */
    boolean admitted;
    /** Accepted over max_client_connections into the small reserve kept for cancel requests: a login is refused. */
    boolean overflow;
    /**
     * Set once, by whichever comes first: the login completing, or the proxy, full, evicting this socket as its
     * oldest one still logging in ({@link StatementRouter#evictOldestLogin}). Read and set from any thread.
     */
    final java.util.concurrent.atomic.AtomicBoolean loginSettled = new java.util.concurrent.atomic.AtomicBoolean();
    /** The client's address (its IP, without the port): where a full proxy counts its unfinished logins. */
    final Object source;
    private Phase phase = Phase.LOGIN;
    final UnitQueue queue = new UnitQueue();
    final SessionState state = new SessionState();
    final SessionStatements statements = new SessionStatements();
    final RetryBuffer retry = new RetryBuffer();
    private final HeldNotices held;
    private SessionLinks links;
    private UnitDispatcher dispatcher;
    private BackendLoss loss;

    ClientSession(StatementRouter router, Channel client, int processId, int secretKey) {
        this.router = router;
        this.client = client;
        this.processId = processId;
        this.secretKey = secretKey;
        this.held = new HeldNotices(processId);
        this.source = client.remoteAddress() instanceof java.net.InetSocketAddress a ? a.getAddress()
                : String.valueOf(client.remoteAddress());
    }

    Phase phase() {
        return phase;
    }

    boolean ready() {
        return phase == Phase.READY;
    }

    // ---- Netty: the client side -------------------------------------------------------------

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Frame f = (Frame) msg;
        if (phase == Phase.READY) {
            if (!UnitQueue.validType(f.type())) {
                f.release();
                fatal(SqlState.PROTOCOL_VIOLATION, "invalid frontend message type " + (int) f.type()
                        + (f.type() >= 32 && f.type() < 127 ? " ('" + (char) f.type() + "')" : ""));
                return;
            }
            queue.add(f);
            dispatcher.drain();
            return;
        }
        f.release();
        if (phase == Phase.CONNECTING) {
            fatal(SqlState.PROTOCOL_VIOLATION, "message of type '" + (char) f.type() + "' before ReadyForQuery");
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (phase == Phase.READY) {
            dispatcher.readClient();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (client.isWritable() && links != null) {
            links.resumeReading();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        phase = Phase.CLOSED;
        cleanup();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ClientLogin.failed(ctx, cause, this::fatal);
    }

    // ---- the first backend --------------------------------------------------------------------

    /** The client logged in ({@code backendParameters}: its startup parameters for the backends). */
    void start(Map<String, String> backendParameters) {
        links = new SessionLinks(router, this, processId, client.eventLoop(), backendParameters);
        dispatcher = new UnitDispatcher(this, router, links);
        loss = new BackendLoss(this, router, links, dispatcher);
        phase = Phase.CONNECTING;
        loss.connectHome();
    }

    /** Tells the client it is logged in: the backends' parameters, the proxy's key data, ReadyForQuery. */
    private void loginDone(Map<String, String> parameters) {
        parameters.forEach((k, v) -> client.write(BackendMessages.parameterStatus(client.alloc(), k, v)));
        client.write(BackendMessages.backendKeyData(client.alloc(), processId, secretKey));
        client.writeAndFlush(BackendMessages.readyForQuery(client.alloc(), 'I'));
        phase = Phase.READY;
        dispatcher.readClient();
    }

    /**
     * Completes the login with the parameters the last backend login with the same startup parameters
     * reported, while no backend answers (none is routable now, or the first one is slow or frozen): the
     * proxy authenticated the client itself, so the client need not wait for a node. Its statements
     * then wait for a backend like any other (up to {@code proxy.failover_wait}). False when no such
     * login is known yet.
     */
    boolean completeLoginWithoutBackend() {
        if (phase != Phase.CONNECTING) {
            return false;
        }
        Map<String, String> known = router.knownLoginParameters(links.parametersKey());
        if (known == null) {
            return false;
        }
        LOG.info("proxy session {}: logged in without a backend (none answered yet); parameters of an earlier login",
                processId);
        loginDone(known);
        return true;
    }

    // ---- LinkOwner: what the session's backends report ------------------------------------------

    @Override
    public void linkReady(BackendLink link) {
        router.rememberLoginParameters(links.parametersKey(), link.parameters());
        if (phase == Phase.CONNECTING && link == links.home) {
            loginDone(link.parameters());
            links.last = link;
            return;
        }
        for (String sql : state.settings()) {
            link.sendInternal(sql, UnitTracker.Owner.SWALLOW);
        }
        dispatcher.drain();
    }

    @Override
    public void linkClosed(BackendLink link, BackendLink.Phase was) {
        unitLimitOver(link); // a unit routed again elsewhere is timed again there
        links.closed(link);
        if (phase != Phase.CLOSED) {
            loss.linkClosed(link, was);
        }
    }

    @Override
    public boolean retryInstead(BackendLink link) {
        return loss.retryInstead(link);
    }

    @Override
    public void errorOutsideUnit(BackendLink link) {
        if (link != links.current && link != links.transaction) {
            links.drop(link); // the backend is ending an idle connection: no unit may be sent there any more
        }
    }

    @Override
    public void readComplete(BackendLink link) {
        client.flush();
        if (link.phase() != BackendLink.Phase.READY || client.isWritable()) {
            link.read();
        } else {
            link.pauseForClient();
        }
    }

    @Override
    public void writabilityChanged(BackendLink link) {
        if (link == links.current && link.writable()) {
            dispatcher.drain();
        }
    }

    @Override
    public void relay(ByteBuf bytes) {
        BackendLink from = links.current;
        if (phase == Phase.CLOSED) {
            bytes.release();
            return;
        }
        if (from != null && from.answersNeedLease() && !router.table().primaryNow(from.backend)) {
            // the lease lapsed, or the node is no longer primary, while it ran the unit: its answer may
            // acknowledge a write the new primary never gets, so it must not reach the client
            bytes.release();
            end(SqlState.CONNECTION_FAILURE, "this metako instance lost its write lease while " + from.backend.name()
                    + " ran the statement, so it cannot vouch for the answer; the outcome is unknown: reconnect and check",
                    relayedPartial);
            return;
        }
        client.write(bytes, client.voidPromise());
        relayedPartial = from != null && from.midMessage();
    }

    /** No unit in flight: a backend's notification may be passed on without splitting another message. */
    @Override
    public AsyncDelivery asyncDelivery() {
        return links.current == null ? AsyncDelivery.RELAY : AsyncDelivery.HOLD;
    }

    @Override
    public void holdAsync(byte type, ByteBuf payload) {
        held.hold(client.alloc(), type, payload);
    }

    @Override
    public void clientUnitTimed(BackendLink link, boolean primary, long nanos, boolean failed) {
        router.observer().answered(link.backend.name(), primary, nanos, failed);
    }

    @Override
    public void clientError(BackendLink link, String sqlState) {
        router.observer().error(link.backend.name(), sqlState);
    }

    // ---- statement time limits (load_balancer.read_timeout / write_timeout) -----------------------

    /** The timer of the one unit being timed, its link, its setting and limit; fired: its cancel has gone out. */
    private java.util.concurrent.ScheduledFuture<?> limitTimer;
    private BackendLink limitedLink;
    private String limitedSetting;
    private long limitedMillis;
    private boolean limitFired;

    /**
     * A unit of {@code kind} was just routed to {@code link}: time it against its limit, if it has one. One unit is
     * timed at a time; a unit pipelined behind a timed one is not timed itself.
     */
    void limitUnit(BackendLink link, io.metako.proxy.route.StatementKind kind) {
        if (limitTimer != null || limitFired) {
            return;
        }
        StatementLimits limits = router.limits();
        boolean read = kind == io.metako.proxy.route.StatementKind.READ;
        long millis = read ? limits.readMillis() : kind == io.metako.proxy.route.StatementKind.WRITE ? limits.writeMillis() : 0;
        if (millis <= 0) {
            return;
        }
        limitedLink = link;
        limitedSetting = read ? "read_timeout" : "write_timeout";
        limitedMillis = millis;
        limitTimer = client.eventLoop().schedule(this::limitReached, millis, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    private void limitReached() {
        limitTimer = null;
        BackendLink l = limitedLink;
        if (phase != Phase.CLOSED && l != null && l.busy() && !l.clientUnitRunning()) {
            // still connecting, or the proxy's own statement (a replayed SET) runs before it: a cancel now would end
            // that one; the client's statement is timed from when it runs, a little later
            limitTimer = client.eventLoop().schedule(this::limitReached, 50, java.util.concurrent.TimeUnit.MILLISECONDS);
            return;
        }
        if (phase != Phase.CLOSED && l != null && l.phase() == BackendLink.Phase.READY && l.busy()) {
            limitFired = true;
            LOG.info("proxy session {}: a statement on {} ran longer than load_balancer.{} ({} ms); cancelling it there",
                    processId, l.backend.name(), limitedSetting, limitedMillis);
            router.forwardCancel(client.eventLoop(), l.backend, l.processId(), l.secretKey());
        } else {
            limitedLink = null;
        }
    }

    /** The client's own cancel: its 57014 is PostgreSQL's, and the proxy's limit on that unit is over. */
    void clientCancelled() {
        unitLimitOver(limitedLink);
    }

    void unitLimitOver(BackendLink link) {
        if (link == limitedLink) {
            if (limitTimer != null) {
                limitTimer.cancel(false);
                limitTimer = null;
            }
            limitedLink = null;
            limitFired = false;
        }
    }

    @Override
    public String errorInstead(BackendLink link, String sqlState) {
        if (limitFired && link == limitedLink && SqlState.QUERY_CANCELED.equals(sqlState)) {
            limitFired = false;
            return "canceling statement: it ran longer than load_balancer." + limitedSetting + " (" + limitedMillis
                    + " ms) on " + link.backend.name() + ", so the proxy cancelled it there (0 turns the limit off)";
        }
        return null;
    }

    @Override
    public void clientUnitDone(BackendLink link, char status, boolean failed) {
        unitLimitOver(link);
        state.txStatus(status);
        dispatcher.stopWaiting();
        links.last = link;
        links.transaction = status == 'I' ? null : link;
        if (link == links.current && !link.busy()) {
            links.current = null;
            held.writeTo(client); // after the ReadyForQuery just relayed
            List<String> pending = state.takePending();
            if (!failed && status == 'I') {
                for (String sql : pending) { // no lambda or iterator for every unit
                    sessionStateChanged(link, sql);
                }
            }
            statements.unitDone(link, failed);
        }
        if (status == 'I' && state.takeWrite() && router.table().primary().filter(link.backend::equals).isPresent()) {
            state.awaitLsn(); // reads stay on the primary until the LSN is known
            link.sendInternal("SELECT pg_catalog.pg_current_wal_lsn()", UnitTracker.Owner.LSN);
        }
        if (links.current == null) {
            dispatcher.drain();
        }
    }

    /** A SET / RESET / DISCARD ran on {@code where}: the session's other backends, and later ones, get it too. */
    private void sessionStateChanged(BackendLink where, String sql) {
        if (state.changed(sql)) {
            statements.forgetAll(links.live());
        }
        links.replayElsewhere(where, sql);
    }

    @Override
    public void internalUnitFailed(BackendLink link) {
        // logged by the link; the session's own units go on
    }

    /** The backend running the unit answered something: from now on it cannot simply run again. */
    @Override
    public void unitAnswered(BackendLink link) {
        if (link == links.current) {
            retry.drop();
        }
    }

    @Override
    public void lsnObserved(long lsn) {
        state.lsnObserved(lsn);
    }

    // ---- the routing table changed, a cancel request ------------------------------------------------

    /** A new routing table: backends it no longer allows are dropped (see {@link BackendLoss#tableChanged}). */
    void checkTable(RoutingTable t) {
        if (phase == Phase.CONNECTING || phase == Phase.READY) {
            loss.tableChanged(t);
        }
    }

    /** A CancelRequest with this session's key arrived. */
    void cancelRunning() {
        if (phase == Phase.READY) {
            dispatcher.cancel();
        }
    }

    // ---- ending -----------------------------------------------------------------------------

    /** The client sent Terminate. */
    void terminate() {
        phase = Phase.CLOSED;
        client.close();
    }

    /** Ends the session with a FATAL ErrorResponse. */
    void fatal(String sqlState, String message) {
        end(sqlState, message, links.current != null && links.current.midMessage());
    }

    /** Ends the session; {@code streamBroken}: part of a message went out, so no ErrorResponse can follow it. */
    private void end(String sqlState, String message, boolean streamBroken) {
        if (phase == Phase.CLOSED) {
            return;
        }
        phase = Phase.CLOSED;
        LOG.debug("ending proxy session {}: {} {}", processId, sqlState, message);
        if (streamBroken) {
            client.close(); // part of a backend message went out: an ErrorResponse now would garble the stream
        } else if (client.isActive()) {
            router.observer().error("", sqlState);
            client.writeAndFlush(BackendMessages.errorResponse(client.alloc(), "FATAL", sqlState, message))
                    .addListener(ChannelFutureListener.CLOSE);
        }
        cleanup();
    }

    private void cleanup() {
        if (limitTimer != null) {
            limitTimer.cancel(false);
            limitTimer = null;
        }
        if (limitFired && limitedLink != null) {
            // the proxy's cancel may still be on its way: that connection is not kept for the next session
            limitedLink.close();
        }
        queue.releaseAll();
        retry.drop();
        held.release();
        if (dispatcher != null) {
            dispatcher.close();
        }
        if (links != null) {
            LOG.debug("proxy session {} closed; closing its {} backend connection(s)", processId, links.size());
            links.release();
        }
        router.sessionEnded(this);
    }
}

package io.metako.proxy.session;

import io.metako.proxy.protocol.BackendMessages;
import io.metako.proxy.protocol.CancelRequest;
import io.metako.proxy.protocol.Frame;
import io.metako.proxy.protocol.FrontendFrameDecoder;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.protocol.ProtocolException;
import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.protocol.StartupMessage;
import io.metako.proxy.route.Classification;
import io.metako.proxy.route.RouteTarget;
import io.metako.proxy.route.Router;
import io.metako.proxy.route.SessionRouting;
import io.metako.proxy.route.StatementClassifier;
import io.metako.proxy.route.StatementKind;
import io.metako.proxy.routing.RoutingTable;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection to the statement router, as a state machine: STARTUP (SSLRequest,
 * GSSENCRequest, CancelRequest, StartupMessage) -> AUTH (SCRAM-SHA-256, md5 or cleartext against
 * the configured users) -> CONNECTING (the first backend, whose parameters the client sees) ->
 * READY (units routed one by one) -> CLOSED.
 *
 * <p>A unit is a Query, a FunctionCall, or the extended-protocol messages up to Sync (or Flush).
 * When no unit is in flight the next one is classified whole and routed; while one is in flight,
 * whatever the client sends next (pipelined units, COPY data) follows it to the same backend.
 * ReadyForQuery tells where a transaction runs: until it reports idle again, every unit goes there.
 *
 * <p>Buffers: frames from the client are queued, then written to a backend (which releases them)
 * or released here; backend bytes are relayed by {@link BackendLink}. Everything runs on the
 * client channel's event loop, the backend channels included.
 */
final class ClientSession extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(ClientSession.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final long RETRY_MILLIS = 100;
    /** An extended-protocol unit longer than this without Sync is sent on (to the primary) as it comes. */
    static final int UNIT_BUFFER_LIMIT = 1 << 20;
    private static final String VALID_TYPES = "QPBDECSHFXdcf";
    /** Kinds of unit that change nothing when run outside a transaction, so may run again elsewhere. */
    private static final java.util.Set<StatementKind> RETRYABLE = java.util.EnumSet.of(StatementKind.READ,
            StatementKind.BEGIN, StatementKind.BEGIN_READ_ONLY, StatementKind.SESSION);

    enum Phase { STARTUP, AUTH, CONNECTING, READY, CLOSED }

    private final StatementRouter router;
    private final RouterSettings settings;
    final Channel client;
    final int processId;
    final int secretKey;
    private Phase phase = Phase.STARTUP;
    private boolean tlsStarted;
    /** Counted against max_client_connections (from its StartupMessage until it ends). */
    boolean admitted;
    private StartupMessage startup;
    private Map<String, String> backendParameters = Map.of();
    /** The startup parameters in a canonical form: part of the key of the backend connections this session can reuse. */
    private String parametersKey = "";
    private ClientAuthenticator authenticator;
    private ScheduledFuture<?> startupTimer;

    private final Map<String, BackendLink> links = new HashMap<>();
    private BackendLink home;
    private BackendLink current;
    private BackendLink lastLink;
    private BackendLink txLink;
    private char txStatus = 'I';

    private final ArrayDeque<Frame> queue = new ArrayDeque<>();
    private int queuedBytes;
    private boolean needMoreInput;
    private boolean discardUntilSync;
    private boolean draining;
    private boolean drainAgain;
    private long waitDeadline;
    private long connectDeadline;
    private ScheduledFuture<?> retry;

    private final SessionStatements statements = new SessionStatements();
    private final List<String> sessionSql = new ArrayList<>();
    /** SET / RESET / DISCARD statements of the unit in flight, replayed elsewhere once it succeeded. */
    private List<String> pendingSessionStatements = List.of();
    private boolean wrote;
    private long minReplayLsn = -1;
    /** Notifications and notices from idle backends, kept while a unit runs elsewhere (bounded). */
    private final ArrayDeque<io.netty.buffer.ByteBuf> heldAsync = new ArrayDeque<>();
    private static final int MAX_HELD_ASYNC = 10_000;
    /**
     * The replica this session reads from while it stays eligible: reads are balanced per session, so
     * a session never sees time go backwards by reading from a replica behind the one it read before,
     * and holds one replica connection, not one per replica.
     */
    private RoutingTable.Backend readReplica;

    /**
     * The frames of the unit in flight, retained once more (no copy: rewound when needed), while nothing
     * of it has been answered and it cannot have changed anything (a read, BEGIN, SET outside a
     * transaction): if its backend dies before answering (the primary was killed), the unit runs again on
     * the next backend the table names, so a session that was not inside a transaction does not see the
     * failover at all.
     */
    private final List<Frame> retryFrames = new ArrayList<>(4);
    private boolean unitRetryable;
    private int unitFramesLeft;

    ClientSession(StatementRouter router, Channel client, int processId, int secretKey) {
        this.router = router;
        this.settings = router.settings();
        this.client = client;
        this.processId = processId;
        this.secretKey = secretKey;
    }

    // ---- Netty: the client side -------------------------------------------------------------

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        startupTimer = ctx.executor().schedule(() -> {
            if (phase.ordinal() < Phase.CONNECTING.ordinal()) {
                fatal(SqlState.PROTOCOL_VIOLATION, "login did not complete within proxy.startup_timeout ("
                        + settings.startupTimeout().toMillis() + " ms)");
            }
        }, settings.startupTimeout().toMillis(), TimeUnit.MILLISECONDS);
        ctx.read();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Frame f = (Frame) msg;
        if (phase == Phase.READY) {
            if (VALID_TYPES.indexOf(f.type()) < 0) {
                f.release();
                fatal(SqlState.PROTOCOL_VIOLATION, "invalid frontend message type " + (int) f.type()
                        + (f.type() >= 32 && f.type() < 127 ? " ('" + (char) f.type() + "')" : ""));
                return;
            }
            queue.add(f);
            queuedBytes += f.wire().readableBytes();
            drain();
            return;
        }
        try {
            switch (phase) {
                case STARTUP -> startupMessage(f);
                case AUTH -> authMessage(f);
                case CONNECTING -> {
                    fatal(SqlState.PROTOCOL_VIOLATION, "message of type '" + (char) f.type() + "' before ReadyForQuery");
                }
                default -> {
                }
            }
        } catch (ProtocolException e) {
            fatal(e.sqlState(), e.getMessage());
        } finally {
            f.release();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (phase == Phase.READY) {
            readClient();
        } else if (phase.ordinal() < Phase.CONNECTING.ordinal()) {
            ctx.read();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (client.isWritable()) {
            for (BackendLink l : links.values()) {
                if (l.waitingForClient) {
                    l.waitingForClient = false;
                    l.read();
                }
            }
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        phase = Phase.CLOSED;
        cleanup();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (c instanceof ProtocolException p) {
            fatal(p.sqlState(), p.getMessage());
        } else {
            LOG.debug("client connection failed: {}", c.toString());
            ctx.close();
        }
    }

    // ---- startup and authentication ---------------------------------------------------------

    private void startupMessage(Frame f) {
        int code = f.payload().getInt(0);
        if (code == FrontendFrameDecoder.SSL_REQUEST) {
            boolean accept = settings.tls().isPresent() && !tlsStarted;
            client.writeAndFlush(BackendMessages.encryptionAnswer(client.alloc(), accept));
            if (accept) {
                tlsStarted = true;
                client.pipeline().addFirst("tls", settings.tls().get().newHandler(client.alloc()));
            }
            return;
        }
        if (code == FrontendFrameDecoder.GSSENC_REQUEST) {
            client.writeAndFlush(BackendMessages.encryptionAnswer(client.alloc(), false));
            return;
        }
        if (code == FrontendFrameDecoder.CANCEL_REQUEST) {
            router.cancel(CancelRequest.parse(f.payload()));
            phase = Phase.CLOSED;
            client.close();
            return;
        }
        startup = StartupMessage.parse(f.payload());
        admitted = router.admit();
        if (!admitted) {
            fatal(SqlState.TOO_MANY_CONNECTIONS, "sorry, too many clients already (proxy.max_client_connections is "
                    + settings.maxClientConnections() + ")");
            return;
        }
        String replication = startup.parameters().getOrDefault("replication", "false").toLowerCase(Locale.ROOT);
        if (!List.of("false", "off", "0", "no").contains(replication)) {
            fatal(SqlState.FEATURE_NOT_SUPPORTED, "replication connections are not supported through the metako proxy;"
                    + " connect to the node directly");
            return;
        }
        Map<String, String> params = new LinkedHashMap<>(startup.parameters());
        params.remove("user");
        params.put("database", startup.database());
        backendParameters = params;
        StringBuilder key = new StringBuilder();
        new TreeMap<>(params).forEach((k, v) -> key.append(k).append('\0').append(v).append('\0'));
        parametersKey = key.toString();
        authenticator = new ClientAuthenticator(settings.clientAuth(), startup.user(), settings.users().get(startup.user()));
        client.writeAndFlush(authenticator.request(client.alloc()));
        phase = Phase.AUTH;
    }

    private void authMessage(Frame f) {
        if (f.type() != FrontendMessages.PASSWORD) {
            throw new ProtocolException("expected a password response, got message type '" + (char) f.type() + "'");
        }
        ClientAuthenticator.Step step = authenticator.onPassword(f.payload(), client.alloc());
        if (step.answer() != null) {
            client.write(step.answer());
        }
        switch (step.outcome()) {
            case CONTINUE -> client.flush();
            case AUTHENTICATED -> authenticated();
            case REFUSED -> authenticationFailed();
        }
    }

    private void authenticationFailed() {
        LOG.info("proxy login refused for user \"{}\" from {}: wrong password or unknown user", startup.user(), client.remoteAddress());
        fatal(SqlState.INVALID_PASSWORD, "password authentication failed for user \"" + startup.user() + "\"");
    }

    private void authenticated() {
        client.writeAndFlush(BackendMessages.authenticationOk(client.alloc()));
        startupTimer.cancel(false);
        phase = Phase.CONNECTING;
        connectDeadline = System.nanoTime() + settings.failoverWait().toNanos();
        connectHome();
    }

    /** The first backend: the primary if writes are accepted here, else a replica for reads. */
    private void connectHome() {
        if (phase != Phase.CONNECTING) {
            return;
        }
        RoutingTable t = router.table();
        Optional<RoutingTable.Backend> b = t.acceptsWrites() ? t.primary() : Optional.empty();
        if (b.isEmpty() && (t.writable() || settings.staleReads())) {
            b = router.selector().select(t.replicas()).map(RoutingTable.Replica::backend);
        }
        if (b.isPresent()) {
            home = openLink(b.get());
            if (home.phase == BackendLink.Phase.READY) {
                linkReady(home); // reused: logged in already
            }
            return;
        }
        if (System.nanoTime() > connectDeadline) {
            fatal(SqlState.CANNOT_CONNECT_NOW, "no primary or readable replica reachable through this metako instance within"
                    + " proxy.failover_wait (" + settings.failoverWait().toMillis() + " ms): a failover may be in progress; retry");
        } else {
            client.eventLoop().schedule(this::connectHome, RETRY_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    // ---- backends ---------------------------------------------------------------------------

    Map<String, String> backendParameters() {
        return backendParameters;
    }

    /**
     * A link to {@code b} for this session: a pooled one with the same startup parameters (then READY at
     * once: the caller calls {@link #linkReady}), else a new connection that logs in first.
     */
    private BackendLink openLink(RoutingTable.Backend b) {
        String key = b.name() + '@' + b.host() + ':' + b.port() + '\0' + parametersKey;
        BackendLink pooled = router.pool(client.eventLoop()).take(key);
        if (pooled != null) {
            pooled.adopt(this);
            links.put(b.name(), pooled);
            router.linkOpened(b.name());
            LOG.debug("proxy session {} reuses a backend connection to {}", processId, b.name());
            return pooled;
        }
        BackendLink link = new BackendLink(this, b, settings.backendLogin().apply(b.name()), settings.maxMessageSize(), key);
        links.put(b.name(), link);
        router.linkOpened(b.name());
        ChannelFuture cf = router.loops().connect(client.eventLoop(), link, b.host(), b.port());
        link.channel = cf.channel();
        cf.addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                link.loginError = "cannot connect to " + b.host() + ":" + b.port() + ": " + f.cause().getMessage();
                link.phase = BackendLink.Phase.CLOSED;
                linkClosed(link, BackendLink.Phase.CONNECTING);
            }
        });
        return link;
    }

    /** A backend finished logging in. */
    void linkReady(BackendLink link) {
        if (phase == Phase.CONNECTING && link == home) {
            home.parameters.forEach((k, v) -> client.write(BackendMessages.parameterStatus(client.alloc(), k, v)));
            client.write(BackendMessages.backendKeyData(client.alloc(), processId, secretKey));
            client.writeAndFlush(BackendMessages.readyForQuery(client.alloc(), 'I'));
            phase = Phase.READY;
            lastLink = home;
            readClient();
            return;
        }
        for (String sql : sessionSql) {
            link.sendInternal(sql, BackendLink.Owner.SWALLOW);
        }
        drain();
    }

    void linkClosed(BackendLink link, BackendLink.Phase was) {
        links.remove(link.backend.name(), link);
        router.linkClosed(link.backend.name());
        if (phase == Phase.CLOSED) {
            return;
        }
        if (was != BackendLink.Phase.READY) {
            String why = link.loginError != null ? link.loginError : "the connection closed during login";
            if (phase == Phase.CONNECTING && link == home) {
                if (link.loginSqlState != null) {
                    fatal(link.loginSqlState, why); // e.g. the database does not exist: as PostgreSQL says it
                } else if (System.nanoTime() < connectDeadline) {
                    client.eventLoop().schedule(this::connectHome, RETRY_MILLIS, TimeUnit.MILLISECONDS);
                } else {
                    fatal(SqlState.CONNECTION_FAILURE, "backend " + link.backend.name() + ": " + why);
                }
                return;
            }
            if (link == current) {
                current = null;
                dropRetryFrames();
                if (link.loginSqlState != null) {
                    failUnit(link.loginSqlState, "backend " + link.backend.name() + ": " + why);
                } else if (!waitOrFail(new RouteTarget.Wait("backend " + link.backend.name() + " is unreachable (" + why
                        + ")", SqlState.CONNECTION_FAILURE))) {
                    return; // nothing was sent: try again when the table moves on (failover) or the node is back
                }
                drain();
            }
            return;
        }
        if (retryInstead(link)) {
            LOG.info("backend {} went away before answering a statement that changed nothing; routing it again",
                    link.backend.name());
            routeAgain(link);
            drain();
            return;
        }
        if (link == txLink) {
            fatal(SqlState.CONNECTION_FAILURE, "backend " + link.backend.name() + " closed the connection: the transaction"
                    + " open on it is lost; reconnect and retry the transaction");
        } else if (link == current) {
            fatal(SqlState.CONNECTION_FAILURE, "backend " + link.backend.name() + " closed the connection while running a"
                    + " statement that may have changed data, so its outcome is unknown; reconnect and check");
        }
        if (link == lastLink) {
            lastLink = null;
        }
    }

    /**
     * Gives up {@code link} as the runner of the current unit: the frames already sent to it (a unit that
     * changes nothing and was not answered) go back to the head of the queue, rewound, to be routed again.
     */
    private void routeAgain(BackendLink link) {
        for (int i = retryFrames.size() - 1; i >= 0; i--) {
            Frame f = retryFrames.get(i).rewind();
            queue.addFirst(f);
            queuedBytes += f.wire().readableBytes();
        }
        retryFrames.clear();
        unitRetryable = false;
        current = null;
        if (link == lastLink) {
            lastLink = null;
        }
    }

    /** A backend ended an idle connection (FATAL): no unit may be sent there any more. */
    void linkFailing(BackendLink link) {
        if (link != current && link != txLink) {
            links.remove(link.backend.name(), link);
            if (link == lastLink) {
                lastLink = null;
            }
        }
    }

    void backendReadComplete(BackendLink link) {
        client.flush();
        if (link.phase != BackendLink.Phase.READY || client.isWritable()) {
            link.read();
        } else {
            link.waitingForClient = true;
        }
    }

    void linkWritabilityChanged(BackendLink link) {
        if (link == current && link.channel.isWritable()) {
            drain();
        }
    }

    void relayToClient(io.netty.buffer.ByteBuf bytes) {
        client.write(bytes, client.voidPromise());
    }

    /** No unit in flight: a backend's notification may be passed on without splitting another message. */
    boolean idle() {
        return current == null;
    }

    /**
     * A NotificationResponse or NoticeResponse from a backend the session is not using right now,
     * while a unit runs on another: relaying it now could split that unit's answer, so it waits for
     * the ReadyForQuery (as PostgreSQL itself delivers notifications between statements).
     */
    void holdAsync(byte type, io.netty.buffer.ByteBuf payload) {
        if (heldAsync.size() >= MAX_HELD_ASYNC) {
            heldAsync.poll().release();
            LOG.warn("proxy session {}: over {} notifications held while a statement runs; dropping the oldest",
                    processId, MAX_HELD_ASYNC);
        }
        int n = payload.readableBytes();
        heldAsync.add(client.alloc().buffer(5 + n).writeByte(type).writeInt(4 + n)
                .writeBytes(payload, payload.readerIndex(), n));
    }

    /** One of the session's units was answered with ReadyForQuery ({@code status}: I, T or E). */
    void clientUnitDone(BackendLink link, char status, boolean failed) {
        txStatus = status;
        waitDeadline = 0;
        lastLink = link;
        txLink = status == 'I' ? null : link;
        if (link == current && !link.busy()) {
            current = null;
            while (!heldAsync.isEmpty()) {
                client.write(heldAsync.poll(), client.voidPromise()); // after the ReadyForQuery just relayed
            }
            if (!failed && status == 'I' && !pendingSessionStatements.isEmpty()) {
                for (String sql : pendingSessionStatements) { // no lambda or iterator for every unit
                    sessionStateChanged(link, sql);
                }
            }
            pendingSessionStatements = List.of();
        }
        if (status == 'I' && wrote) {
            wrote = false;
            RoutingTable t = router.table();
            if (t.primary().filter(link.backend::equals).isPresent()) {
                minReplayLsn = Long.MAX_VALUE; // reads stay on the primary until the LSN is known
                link.sendInternal("SELECT pg_catalog.pg_current_wal_lsn()", BackendLink.Owner.LSN);
            }
        }
        if (current == null) {
            drain();
        }
    }

    /** The backend running the unit answered something: from now on it cannot simply run again. */
    void unitAnswered(BackendLink link) {
        if (link == current) {
            dropRetryFrames();
        }
    }

    /**
     * True when the unit in flight on {@code link} can run again elsewhere: it changes nothing, was sent and has not
     * been answered, and no transaction is open. Asked when that backend ends the connection (its FATAL is then not
     * passed on), closes it, or leaves the routing table.
     */
    boolean retryInstead(BackendLink link) {
        return link == current && !retryFrames.isEmpty() && txLink == null;
    }

    private void dropRetryFrames() {
        unitRetryable = false;
        if (!retryFrames.isEmpty()) {
            retryFrames.forEach(Frame::release);
            retryFrames.clear();
        }
    }

    void lsnObserved(long lsn) {
        minReplayLsn = lsn >= 0 ? lsn : Long.MAX_VALUE;
    }

    /** A SET / RESET / DISCARD ran on {@code where}: the session's other backends, and later ones, get it too. */
    private void sessionStateChanged(BackendLink where, String sql) {
        String upper = sql.strip().toUpperCase(Locale.ROOT);
        if (upper.startsWith("DISCARD ALL") || upper.startsWith("RESET ALL")) {
            sessionSql.clear();
        } else if (sessionSql.size() < 1000) {
            sessionSql.add(sql);
        }
        if (upper.startsWith("DISCARD ALL") || upper.startsWith("DEALLOCATE")) {
            statements.forgetAll(links.values());
        }
        for (BackendLink l : links.values()) {
            if (l != where && l.phase == BackendLink.Phase.READY) {
                l.sendInternal(sql, BackendLink.Owner.SWALLOW);
            }
        }
    }

    // ---- units ------------------------------------------------------------------------------

    private void drain() {
        if (draining) {
            drainAgain = true;
            return;
        }
        draining = true;
        try {
            do {
                drainAgain = false;
                drainOnce();
            } while (drainAgain && phase == Phase.READY);
            if (current != null && current.channel != null) {
                current.channel.flush();
            }
        } finally {
            draining = false;
        }
        readClient();
    }

    private void drainOnce() {
        needMoreInput = false;
        while (phase == Phase.READY && !queue.isEmpty()) {
            if (discardUntilSync) {
                Frame f = poll();
                boolean sync = f.type() == FrontendMessages.SYNC;
                f.release();
                if (sync) {
                    discardUntilSync = false;
                    client.writeAndFlush(BackendMessages.readyForQuery(client.alloc(), txStatus));
                }
                continue;
            }
            if (current != null) {
                if (current.phase != BackendLink.Phase.READY || !current.channel.isWritable()) {
                    return; // logging in, or backpressure: linkReady / linkWritabilityChanged drain again
                }
                Frame f = poll();
                if (unitRetryable) {
                    if (unitFramesLeft-- > 0) {
                        retryFrames.add(f.retain()); // the same bytes, rewound if the unit has to run again
                    } else {
                        dropRetryFrames(); // pipelined units follow: no longer one unit that can simply run again
                    }
                }
                forward(current, f);
                continue;
            }
            byte type = queue.peek().type();
            if (type == FrontendMessages.TERMINATE) {
                poll().release();
                phase = Phase.CLOSED;
                client.close();
                return;
            }
            if (type == FrontendMessages.COPY_DATA || type == FrontendMessages.COPY_DONE || type == FrontendMessages.COPY_FAIL) {
                poll().release(); // outside COPY, as PostgreSQL does: ignored
                continue;
            }
            int end = unitEnd();
            if (end < 0 && queuedBytes < UNIT_BUFFER_LIMIT) {
                needMoreInput = true;
                return;
            }
            if (!route(end)) {
                return;
            }
        }
    }

    /**
     * Chooses the backend for the unit at the head of the queue and makes it {@link #current};
     * false when the unit has to wait (for a primary, a lease) and will be tried again.
     */
    private boolean route(int end) {
        Classification c = end < 0 ? new Classification(StatementKind.WRITE, true, 1) : statements.classifyUnit(queue, end);
        BackendLink target = null;
        pendingSessionStatements = List.of();
        if (c == null && txLink == null) {
            target = lastLink != null ? lastLink : home; // Sync alone, Describe of a portal: no statement to route
            if (target != null && target.phase == BackendLink.Phase.CLOSED) {
                target = null;
            }
        }
        if (target == null) {
            // the Router decides, the transaction rule included; this session only adds which link is which
            RoutingTable table = router.table();
            Classification routed = c != null ? c : new Classification(StatementKind.READ, false, 0);
            RouteTarget t = Router.route(routed, new SessionRouting(Optional.ofNullable(txLink).map(l -> l.backend), minReplayLsn),
                    table, this::selectReadReplica, settings.staleReads());
            if (t instanceof RouteTarget.Wait w) {
                return waitOrFail(w);
            }
            RoutingTable.Backend b;
            if (t instanceof RouteTarget.Primary p) {
                b = p.backend();
                if (routed.kind() != StatementKind.READ) {
                    wrote = true;
                }
            } else if (t instanceof RouteTarget.Replica r) {
                b = r.backend();
            } else if (t instanceof RouteTarget.Transaction) {
                b = txLink.backend;
            } else {
                b = sessionBackend(table);
                if (b == null) {
                    return waitOrFail(new RouteTarget.Wait("no backend for a session setting", SqlState.CANNOT_CONNECT_NOW));
                }
                pendingSessionStatements = List.of(unitSql(end));
            }
            target = links.get(b.name());
            if (target == null || target.phase == BackendLink.Phase.CLOSED) {
                target = openLink(b);
                if (target.phase == BackendLink.Phase.READY) {
                    linkReady(target); // reused: the session's SETs go first; its drain() only marks another round
                }
            }
        }
        if (c != null && end >= 0 && c.statements() > 1 && c.kind() != StatementKind.SESSION) {
            // "SET search_path = x; SELECT ..." runs where its other statements go; its SETs must still
            // reach the session's other backends (pgjdbc sends such a string as one Parse per statement)
            pendingSessionStatements = StatementClassifier.sessionStatements(unitSql(end));
        }
        current = target;
        dropRetryFrames();
        unitRetryable = end >= 0 && txLink == null && !target.busy()
                && (c == null || RETRYABLE.contains(c.kind()));
        unitFramesLeft = end + 1;
        return true;
    }

    /** The session's read replica while it is eligible, else a new one chosen by the balancing algorithm. */
    private Optional<RoutingTable.Replica> selectReadReplica(List<RoutingTable.Replica> eligible) {
        if (readReplica != null) {
            for (RoutingTable.Replica r : eligible) {
                if (r.backend().equals(readReplica)) {
                    return Optional.of(r);
                }
            }
        }
        Optional<RoutingTable.Replica> chosen = router.selector().select(eligible);
        chosen.ifPresent(r -> readReplica = r.backend());
        return chosen;
    }

    /** Where a SET goes first: a backend the session already uses, else any the table offers. */
    private RoutingTable.Backend sessionBackend(RoutingTable table) {
        for (BackendLink l : new BackendLink[] {lastLink, home}) {
            if (l != null && l.phase == BackendLink.Phase.READY && links.get(l.backend.name()) == l) {
                return l.backend;
            }
        }
        if (table.acceptsWrites()) {
            return table.primary().orElse(null);
        }
        return router.selector().select(table.replicas()).map(RoutingTable.Replica::backend).orElse(null);
    }

    private boolean waitOrFail(RouteTarget.Wait w) {
        long now = System.nanoTime();
        if (waitDeadline == 0) {
            waitDeadline = now + settings.failoverWait().toNanos();
        }
        if (now - waitDeadline >= 0) {
            waitDeadline = 0;
            failUnit(w.sqlState(), w.reason() + "; gave up after proxy.failover_wait ("
                    + settings.failoverWait().toMillis() + " ms), retry the transaction");
            return true;
        }
        if (retry == null) {
            retry = client.eventLoop().schedule(() -> {
                retry = null;
                drain();
            }, RETRY_MILLIS, TimeUnit.MILLISECONDS);
        }
        return false;
    }

    /** Answers the unit at the head of the queue with an error instead of running it. */
    private void failUnit(String sqlState, String message) {
        int end = unitEnd();
        int n = end < 0 ? queue.size() : end + 1;
        byte last = 0;
        for (int i = 0; i < n; i++) {
            Frame f = poll();
            last = f.type();
            f.release();
        }
        client.write(BackendMessages.errorResponse(client.alloc(), "ERROR", sqlState, message));
        if (end >= 0 && last != FrontendMessages.FLUSH) {
            client.write(BackendMessages.readyForQuery(client.alloc(), txStatus));
        } else {
            discardUntilSync = true;
        }
        client.flush();
    }

    /** Index of the message ending the unit at the head of the queue, -1 when it has not all arrived. */
    private int unitEnd() {
        int i = 0;
        for (Frame f : queue) {
            byte t = f.type();
            if (i == 0 && (t == FrontendMessages.QUERY || t == FrontendMessages.FUNCTION_CALL)) {
                return 0;
            }
            if (t == FrontendMessages.SYNC || t == FrontendMessages.FLUSH || t == FrontendMessages.QUERY
                    || t == FrontendMessages.TERMINATE) {
                return i;
            }
            i++;
        }
        return -1;
    }

    /** The SQL of a SET unit, to replay on other backends. */
    private String unitSql(int end) {
        StringBuilder sb = new StringBuilder();
        Iterator<Frame> it = queue.iterator();
        for (int i = 0; i <= end && it.hasNext(); i++) {
            Frame f = it.next();
            if (f.type() == FrontendMessages.QUERY) {
                sb.append(FrontendMessages.query(f.payload()));
            } else if (f.type() == FrontendMessages.PARSE) {
                sb.append(sb.length() > 0 ? "; " : "").append(FrontendMessages.Parse.parse(f.payload()).sql());
            }
        }
        return sb.toString();
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

    private Frame poll() {
        Frame f = queue.poll();
        queuedBytes -= f.wire().readableBytes();
        return f;
    }

    private void readClient() {
        if (phase == Phase.READY && (queue.isEmpty() || needMoreInput)) {
            client.read();
        }
    }

    // ---- the routing table changed ---------------------------------------------------------

    /**
     * Drops backends the table no longer allows. A session whose transaction (or statement in
     * flight) runs on one is ended with 57P01: it must not go on writing to an old primary.
     */
    void checkTable(RoutingTable t) {
        if (phase == Phase.CLOSED) {
            return;
        }
        boolean reroute = false;
        for (BackendLink link : new ArrayList<>(links.values())) {
            if (t.serves(link.backend)) {
                continue;
            }
            boolean loggingIn = link == current && txLink == null && link.phase != BackendLink.Phase.READY;
            if (phase == Phase.READY && (loggingIn || retryInstead(link))) {
                // the unit waits for this connection to log in (nothing of it was sent), or it changes nothing
                // and has not been answered: it runs where the new table says, the client notices nothing
                LOG.info("proxy session {}: node {} left the table at epoch {} before answering; the statement is"
                        + " routed again", processId, link.backend.name(), t.epoch());
                routeAgain(link);
                reroute = true;
            } else if ((link == current || link == txLink) && phase == Phase.READY) {
                LOG.info("proxy session {}: ended, its {} is on node {} (backend connection {}) which epoch {} no longer"
                        + " allows", processId, link == txLink ? "transaction" : "statement in flight", link.backend.name(),
                        link.phase, t.epoch());
                fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection: node " + link.backend.name()
                        + " no longer serves this session at epoch " + t.epoch() + " (failover, switchover or lost lease);"
                        + " reconnect and retry the transaction");
                return;
            }
            links.remove(link.backend.name());
            if (link == lastLink) {
                lastLink = null;
            }
            link.close();
        }
        if (reroute || waitDeadline != 0) {
            drain();
        }
    }

    /** Cancels what runs now, as PostgreSQL would: a CancelRequest to the backend running it. */
    void cancelRunning() {
        BackendLink l = current;
        if (l == null && waitDeadline != 0 && phase == Phase.READY) {
            // still waiting for a primary: the statement has not started anywhere, so it ends here
            waitDeadline = 0;
            failUnit(SqlState.QUERY_CANCELED, "canceling statement due to user request");
            drain();
            return;
        }
        if (l == null || l.phase != BackendLink.Phase.READY) {
            return;
        }
        int pid = l.processId;
        int key = l.secretKey;
        router.loops().connect(client.eventLoop(), new ChannelInboundHandlerAdapter(), l.backend.host(), l.backend.port())
                .addListener((ChannelFutureListener) f -> {
                    if (f.isSuccess()) {
                        f.channel().writeAndFlush(FrontendMessages.cancelRequest(f.channel().alloc(), pid, key))
                                .addListener(ChannelFutureListener.CLOSE);
                    }
                });
    }

    // ---- ending -----------------------------------------------------------------------------

    /** Ends the session with a FATAL ErrorResponse. */
    void fatal(String sqlState, String message) {
        if (phase == Phase.CLOSED) {
            return;
        }
        phase = Phase.CLOSED;
        LOG.debug("ending proxy session {}: {} {}", processId, sqlState, message);
        if (current != null && current.midMessage()) {
            client.close(); // part of a backend message went out: an ErrorResponse now would garble the stream
        } else if (client.isActive()) {
            client.writeAndFlush(BackendMessages.errorResponse(client.alloc(), "FATAL", sqlState, message))
                    .addListener(ChannelFutureListener.CLOSE);
        }
        cleanup();
    }

    private void cleanup() {
        LOG.debug("proxy session {} closed; closing its {} backend connection(s)", processId, links.size());
        Frame f;
        while ((f = queue.poll()) != null) {
            f.release();
        }
        queuedBytes = 0;
        dropRetryFrames();
        while (!heldAsync.isEmpty()) {
            heldAsync.poll().release();
        }
        if (retry != null) {
            retry.cancel(false);
        }
        if (startupTimer != null) {
            startupTimer.cancel(false);
        }
        for (BackendLink l : new ArrayList<>(links.values())) {
            links.remove(l.backend.name(), l);
            if (!router.park(l)) {
                l.close();
            }
        }
        router.sessionEnded(this);
    }

    static String nonce() {
        byte[] b = new byte[18];
        RANDOM.nextBytes(b);
        return Base64.getEncoder().encodeToString(b);
    }
}

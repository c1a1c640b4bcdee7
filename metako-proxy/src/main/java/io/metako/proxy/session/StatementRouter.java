package io.metako.proxy.session;

import io.metako.proxy.net.ProxyEventLoops;
import io.metako.proxy.protocol.CancelRequest;
import io.metako.proxy.protocol.FrontendFrameDecoder;
import io.metako.proxy.route.ReplicaSelector;
import io.metako.proxy.routing.RoutingTable;
import io.metako.proxy.protocol.FrontendMessages;
import io.netty.channel.Channel;
import io.metako.proxy.protocol.SqlState;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code proxy.port}: the PostgreSQL-protocol statement router. Each accepted connection is a
 * {@link ClientSession}, logged in by a {@link ClientLogin} first; this class holds what the sessions
 * share: the routing table, replica balancing, the map from the proxy-issued BackendKeyData to sessions
 * (for CancelRequest), the count of sessions and of backend connections per node, each event loop's pool
 * of backend connections kept for reuse, and the thread that derives SCRAM keys for backend logins.
 */
public final class StatementRouter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StatementRouter.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    /** Replaced by {@link #reload}; each use reads the current one. */
    private volatile RouterSettings settings;
    private final Supplier<RoutingTable> table;
    private final ProxyEventLoops loops;
    private final java.util.function.Function<RoutingTable, ReplicaSelector> selector;
    private final Map<Integer, ClientSession> sessions = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> backendConnections = new ConcurrentHashMap<>();
    private final AtomicInteger admitted = new AtomicInteger();
    private final AtomicInteger overflow = new AtomicInteger();
    private final Map<EventLoop, BackendPool> pools = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> idlePerNode = new ConcurrentHashMap<>();
    private final AtomicInteger processIds = new AtomicInteger(RANDOM.nextInt(1 << 20) + 1);
    private Channel server;
    private volatile Object lastMembers;
    /** Set by close(): sessions ending from then on close their backend connections instead of keeping them. */
    private volatile boolean shuttingDown;
    /**
     * One thread derives salted passwords for every session's first backend login per salt (then cached),
     * so an event loop, which serves many sessions, never runs thousands of HMACs.
     */
    private final ExecutorService deriver = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "metako-scram");
        t.setDaemon(true);
        return t;
    });

    /** Startup-parameter sets remembered at most (each client's own application_name makes one). */
    private static final int MAX_KNOWN_PARAMETER_SETS = 1024;
    private final Map<String, Map<String, String>> knownParameters = new ConcurrentHashMap<>();
    /**
     * Admitted sockets still logging in, by the address they came from, oldest first: a full proxy closes one of
     * these to take a new socket, from the address that has the most.
     */
    private final Map<Object, java.util.ArrayDeque<ClientSession>> awaitingLogin = new java.util.HashMap<>(); // guarded by itself
    private final java.util.concurrent.atomic.LongAdder evicted = new java.util.concurrent.atomic.LongAdder();
    /** What the sessions together hold for client messages not yet fully arrived ({@code proxy.max_buffered_bytes}). */
    private final io.metako.proxy.protocol.BufferBudget buffered;

    public StatementRouter(RouterSettings settings, Supplier<RoutingTable> table, ProxyEventLoops loops) {
        this.settings = settings;
        this.buffered = new io.metako.proxy.protocol.BufferBudget(settings.maxBufferedBytes());
        this.table = table;
        this.loops = loops;
        this.selector = ReplicaSelector.byTable(settings.leastConnections(), this::connectionsTo);
    }

    public StatementRouter start(String host, int port) throws InterruptedException {
        server = loops.listen(host, port, ch -> {
            int pid = processIds.getAndIncrement() & 0x7FFFFFFF;
            ClientSession s = new ClientSession(StatementRouter.this, ch, pid, RANDOM.nextInt());
            sessions.put(pid, s);
            // a socket counts from its accept, silent or not, so strangers cannot hold more than the limit; a few
            // more may come in to send a CancelRequest (when a proxy is full is when one is needed), never to log in
            s.admitted = admit();
            if (!s.admitted && evictOldestLogin()) {
                // the socket takes the evicted one's place: over the limit only until that one has closed
                s.admitted = true;
                admitted.incrementAndGet();
            }
            if (s.admitted) {
                awaitLogin(s);
            } else if (overflow.incrementAndGet() <= cancelReserve()) {
                s.overflow = true;
            } else {
                overflow.decrementAndGet();
                ch.pipeline().addLast("refuse", new io.metako.proxy.protocol.RefuseOnConnect(SqlState.TOO_MANY_CONNECTIONS,
                        "sorry, too many clients already (proxy.max_client_connections is " + settings.maxClientConnections()
                                + ")", () -> sessionEnded(s)));
                return;
            }
            ch.pipeline().addLast("bytes", clientBytes);
            ch.pipeline().addLast("frames", new FrontendFrameDecoder(settings.maxMessageSize(), buffered));
            ch.pipeline().addLast("login", new ClientLogin(StatementRouter.this, s));
        });
        LOG.info("statement router listening on {}:{}", host, port());
        return this;
    }

    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    ProxyEventLoops loops() {
        return loops;
    }

    /** Where backend logins derive salted passwords, off the event loops. */
    Executor deriver() {
        return deriver;
    }

    RouterSettings settings() {
        return settings;
    }

    RoutingTable table() {
        return table.get();
    }

    /** The replica selector {@code t} asks for (load_balancer.algorithm). */
    ReplicaSelector selector(RoutingTable t) {
        return selector.apply(t);
    }

    /**
     * Counts an accepted client socket against {@code max_client_connections}; false (and not counted)
     * when the limit is reached.
     */
    boolean admit() {
        while (true) {
            int n = admitted.get();
            if (n >= settings.maxClientConnections()) {
                return false;
            }
            if (admitted.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }

    /** Open client sessions, logged in or not. */
    private volatile ProxyObserver observer = ProxyObserver.NONE;
    private volatile java.util.function.Supplier<StatementLimits> limits = () -> StatementLimits.NONE;

    /** Where the statement time limits come from (the replicated load_balancer settings); asked at every unit. */
    public void limits(java.util.function.Supplier<StatementLimits> source) {
        limits = source;
    }

    StatementLimits limits() {
        return limits.get();
    }
    private final ClientBytes clientBytes = new ClientBytes(() -> observer);

    /** Reports every routed unit, answer, error and wait to {@code o} from now on (statistics, metrics). */
    public void observe(ProxyObserver o) {
        observer = o;
    }

    ProxyObserver observer() {
        return observer;
    }

    public int openSessions() {
        return sessions.size();
    }

    /** Backend connections the sessions hold to {@code node}. */
    public int connectionsTo(String node) {
        AtomicInteger n = backendConnections.get(node);
        return n == null ? 0 : n.get();
    }

    /**
     * Backend connections to one node: held by sessions, and kept idle for the next session ({@code kept}
     * includes those whose reset, DISCARD ALL, is still running; {@link #idleBackendConnections} counts only
     * the ones ready to be adopted).
     */
    public record NodeConnections(String node, int inUse, int kept) {
    }

    /**
     * The backend connections per node, sorted by node name, nodes with none left out (a snapshot, callable
     * on any thread; a connection being handed between a session and the pool may count in neither).
     */
    public List<NodeConnections> backendConnections() {
        SortedSet<String> nodes = new TreeSet<>(backendConnections.keySet());
        nodes.addAll(idlePerNode.keySet());
        List<NodeConnections> out = new ArrayList<>();
        for (String node : nodes) {
            int inUse = connectionsTo(node);
            AtomicInteger kept = idlePerNode.get(node);
            NodeConnections c = new NodeConnections(node, inUse, kept == null ? 0 : kept.get());
            if (c.inUse() > 0 || c.kept() > 0) {
                out.add(c);
            }
        }
        return out;
    }

    void linkOpened(String node) {
        backendConnections.computeIfAbsent(node, k -> new AtomicInteger()).incrementAndGet();
    }

    void linkClosed(String node) {
        backendConnections.computeIfAbsent(node, k -> new AtomicInteger()).decrementAndGet();
    }

    /** The backend connections kept for reuse on {@code loop}; only that loop may use it. */
    /**
     * The ParameterStatus values the last backend login with these startup parameters reported: a
     * client can then log in while no backend answers ({@link ClientSession#completeLoginWithoutBackend}).
     */
    void rememberLoginParameters(String parametersKey, Map<String, String> parameters) {
        if (!parameters.isEmpty() && (knownParameters.size() < MAX_KNOWN_PARAMETER_SETS || knownParameters.containsKey(parametersKey))) {
            knownParameters.put(parametersKey, Map.copyOf(parameters));
        }
    }

    Map<String, String> knownLoginParameters(String parametersKey) {
        return knownParameters.get(parametersKey);
    }

    BackendPool pool(EventLoop loop) {
        return pools.computeIfAbsent(loop, l -> new BackendPool(l, settings.backendIdleMax(), settings.backendIdleTimeout(),
                idlePerNode));
    }

    /**
     * Takes {@code link} from its ending session into the pool of its loop when reuse is on, the link
     * is clean and its node still serves: true when it was kept (and no longer counts as a session's
     * connection until a session adopts it), false when the caller must close it.
     */
    boolean park(BackendLink link) {
        if (shuttingDown || settings.backendIdleMax() <= 0 || !link.reusable() || !table().serves(link.backend)) {
            return false;
        }
        if (!pool(link.eventLoop()).offer(link)) {
            return false;
        }
        linkClosed(link.backend.name());
        return true;
    }

    /**
     * Backend connections kept for reuse and ready for the next session (their reset has finished), over all
     * event loops: a snapshot, callable on any thread, that asks each loop. The status's {@code kept} counts
     * from shared counters instead, without waiting on the loops, and includes connections still being reset.
     */
    public int idleBackendConnections() {
        int n = 0;
        for (Map.Entry<EventLoop, BackendPool> e : pools.entrySet()) {
            try {
                n += e.getKey().inEventLoop() ? e.getValue().ready()
                        : e.getKey().submit(e.getValue()::ready).get(2, TimeUnit.SECONDS);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                return n;
            } catch (Exception ex) {
                LOG.debug("could not count the idle backend connections of an event loop: {}", ex.toString());
            }
        }
        return n;
    }

    /**
     * When the proxy is full: closes its oldest socket that has not logged in yet (53300), so that a flood of
     * silent or slow sockets cannot keep clients that log in promptly out until {@code startup_timeout}; false when
     * every socket has logged in. Sessions that logged in are never evicted.
     */
    boolean evictOldestLogin() {
        while (true) {
            ClientSession oldest;
            synchronized (awaitingLogin) {
                // the address holding the most unfinished logins gives one up: a flood from a few addresses evicts
                // its own sockets, not the clients of other addresses that are logging in meanwhile
                Map.Entry<Object, java.util.ArrayDeque<ClientSession>> most = null;
                for (Map.Entry<Object, java.util.ArrayDeque<ClientSession>> e : awaitingLogin.entrySet()) {
                    if (most == null || e.getValue().size() > most.getValue().size()) {
                        most = e;
                    }
                }
                if (most == null) {
                    return false;
                }
                oldest = most.getValue().poll();
                if (most.getValue().isEmpty()) {
                    awaitingLogin.remove(most.getKey());
                }
            }
            if (oldest.loginSettled.compareAndSet(false, true)) {
                evicted.increment();
                Channel ch = oldest.client;
                ch.writeAndFlush(io.metako.proxy.protocol.BackendMessages.errorResponse(ch.alloc(), "FATAL",
                        SqlState.TOO_MANY_CONNECTIONS, "sorry, too many clients already (proxy.max_client_connections is "
                                + settings.maxClientConnections() + "): the oldest unfinished login made way for a new one"))
                        .addListener(ChannelFutureListener.CLOSE);
                ch.eventLoop().schedule(() -> ch.close(), 1, TimeUnit.SECONDS); // even if that write never completes
                return true;
            }
        }
    }

    private void awaitLogin(ClientSession s) {
        synchronized (awaitingLogin) {
            awaitingLogin.computeIfAbsent(s.source, k -> new java.util.ArrayDeque<>()).add(s);
        }
    }

    /** {@code s} has logged in (or ended): it is no longer a candidate for eviction. */
    void loginDone(ClientSession s) {
        synchronized (awaitingLogin) {
            java.util.ArrayDeque<ClientSession> q = awaitingLogin.get(s.source);
            if (q != null && q.remove(s) && q.isEmpty()) {
                awaitingLogin.remove(s.source);
            }
        }
    }

    /** Sockets closed by {@link #evictOldestLogin} since the start. */
    public long evictedLogins() {
        return evicted.sum();
    }

    void sessionEnded(ClientSession s) {
        if (!s.loginSettled.get()) {
            loginDone(s);
        }
        if (sessions.remove(s.processId, s)) {
            if (s.admitted) {
                admitted.decrementAndGet();
            } else if (s.overflow) {
                overflow.decrementAndGet();
            }
        }
    }

    /** Sockets accepted over max_client_connections for cancel requests only. */
    int cancelReserve() {
        return Math.max(4, settings.maxClientConnections() / 20);
    }

    /** Sends a CancelRequest for backend process {@code pid} to {@code b}, from {@code loop}, on a connection of its own. */
    void forwardCancel(EventLoop loop, RoutingTable.Backend b, int pid, int key) {
        loops.connect(loop, new ChannelInboundHandlerAdapter(), b.host(), b.port()).addListener((ChannelFutureListener) f -> {
            if (f.isSuccess()) {
                f.channel().writeAndFlush(FrontendMessages.cancelRequest(f.channel().alloc(), pid, key))
                        .addListener(ChannelFutureListener.CLOSE);
            }
        });
    }

    void cancel(CancelRequest request) {
        ClientSession s = sessions.get(request.processId());
        if (s != null && s.secretKey == request.secretKey()) {
            s.client.eventLoop().execute(s::cancelRunning);
        } else {
            LOG.debug("CancelRequest for unknown session {} ignored", request.processId());
        }
    }

    /**
     * Applies a new routing table to every session and returns once each has dropped the backends
     * it no longer allows (bounded wait): then this instance may acknowledge the epoch.
     */
    public void onRoutingTable(RoutingTable t) {
        // sessions only care which backends may serve: a table that differs in lag figures alone
        // (published as often as the probes report) needs no round of every event loop
        Object members = List.of(t.acceptsWrites() ? t.primary() : java.util.Optional.empty(),
                t.replicas().stream().map(RoutingTable.Replica::backend).collect(java.util.stream.Collectors.toSet()));
        if (members.equals(lastMembers)) {
            return;
        }
        lastMembers = members;
        List<Future<?>> done = new ArrayList<>();
        for (ClientSession s : sessions.values()) {
            done.add(s.client.eventLoop().submit(() -> s.checkTable(t)));
        }
        pools.forEach((loop, pool) -> done.add(loop.submit(() -> pool.retain(t))));
        awaitAll(done, "a proxy session or pool of idle backend connections did not take routing epoch " + t.epoch() + " in time");
    }

    /** Waits at most 2 s for all of {@code tasks} (event-loop work); each that fails or is late is logged with {@code what}. */
    private static void awaitAll(List<Future<?>> tasks, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        for (Future<?> f : tasks) {
            try {
                f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (Exception e) {
                LOG.warn("{}: {}", what, e.toString());
            }
        }
    }

    /**
     * New settings from a reload of the instance's file: clients log in against the new users from now on (sessions
     * logged in stay), and the idle backend connections, logged in to the nodes with the old credentials, are closed
     * so the next ones log in with the new. The listening socket, the event loops and the budget of buffered bytes
     * stay as they were started.
     */
    public void reload(RouterSettings next) {
        this.settings = next;
        List<Future<?>> closed = new ArrayList<>();
        pools.forEach((loop, pool) -> {
            if (!loop.isShuttingDown()) {
                closed.add(loop.submit(pool::closeAll));
            }
        });
        awaitAll(closed, "the idle backend connections of an event loop did not close on a reload in time");
    }

    @Override
    public void close() {
        shuttingDown = true;
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        List<io.netty.channel.ChannelFuture> closing = new ArrayList<>();
        for (ClientSession s : sessions.values()) {
            closing.add(s.client.close());
        }
        for (io.netty.channel.ChannelFuture f : closing) {
            f.awaitUninterruptibly(2, TimeUnit.SECONDS); // each session then closes its backend connections
        }
        List<Future<?>> pooled = new ArrayList<>();
        pools.forEach((loop, pool) -> {
            if (!loop.isShuttingDown()) {
                pooled.add(loop.submit(pool::closeAll));
            }
        });
        awaitAll(pooled, "the idle backend connections of an event loop did not close in time");
        deriver.shutdownNow();
    }
}

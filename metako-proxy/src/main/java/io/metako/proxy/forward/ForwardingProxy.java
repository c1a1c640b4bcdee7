package io.metako.proxy.forward;

import io.metako.proxy.net.ProxyEventLoops;
import io.metako.proxy.route.ReplicaSelector;
import io.metako.proxy.routing.RoutingTable;
import io.netty.channel.Channel;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code proxy.rw_port} / {@code proxy.ro_port}: plain byte forwarding to the primary or to a
 * replica, following the routing table. A connection is bound to the backend it was opened to;
 * when the table no longer names that backend for its role (a new epoch, a replica dropped),
 * the connection is closed, so a client never keeps writing to an old primary. With no target
 * (failover in progress, no lease) a new connection waits up to {@code failoverWait}, then is
 * closed.
 */
public final class ForwardingProxy implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ForwardingProxy.class);

    /** Which backend a port forwards to. */
    public enum Role { PRIMARY, REPLICA }

    private final Role role;
    private final Supplier<RoutingTable> table;
    private final java.util.function.Function<RoutingTable, ReplicaSelector> selector;
    private final java.util.Map<String, java.util.concurrent.atomic.AtomicInteger> perBackend = new ConcurrentHashMap<>();
    private final Duration failoverWait;
    private final ProxyEventLoops loops;
    private final Set<ForwardingSession> sessions = ConcurrentHashMap.newKeySet();
    private final int maxConnections;
    private final io.metako.proxy.net.AcceptRate acceptRate;
    private final java.util.concurrent.atomic.LongAdder refusedForRate = new java.util.concurrent.atomic.LongAdder();
    private Channel server;

    /**
     * {@code leastConnections}: balance replicas by this port's open connections, else round robin, where the routing
     * table leaves it to the port ({@link RoutingTable.Balance#CONFIGURED}).
     */
    public ForwardingProxy(Role role, Supplier<RoutingTable> table, boolean leastConnections, Duration failoverWait,
                           ProxyEventLoops loops) {
        this(role, table, leastConnections, failoverWait, loops, Integer.MAX_VALUE);
    }

    /** Likewise, with at most {@code maxConnections} client sockets at once (counted from their accept). */
    public ForwardingProxy(Role role, Supplier<RoutingTable> table, boolean leastConnections, Duration failoverWait,
                           ProxyEventLoops loops, int maxConnections) {
        this(role, table, leastConnections, failoverWait, loops, maxConnections, 0);
    }

    /** Likewise, with at most {@code maxNewPerSecond} new sockets a second (0: no cap). */
    public ForwardingProxy(Role role, Supplier<RoutingTable> table, boolean leastConnections, Duration failoverWait,
                           ProxyEventLoops loops, int maxConnections, int maxNewPerSecond) {
        this.maxConnections = maxConnections;
        this.acceptRate = new io.metako.proxy.net.AcceptRate(maxNewPerSecond);
        this.role = role;
        this.table = table;
        this.selector = ReplicaSelector.byTable(leastConnections, this::connectionsTo);
        this.failoverWait = failoverWait;
        this.loops = loops;
    }

    public ForwardingProxy start(String host, int port) throws InterruptedException {
        String portName = role == Role.PRIMARY ? "rw_port" : "ro_port";
        server = loops.listen(host, port, ch -> {
            if (sessions.size() >= maxConnections) {
                ch.pipeline().addLast(new io.metako.proxy.protocol.RefuseOnConnect(
                        io.metako.proxy.protocol.SqlState.TOO_MANY_CONNECTIONS, "sorry, too many clients already on "
                                + portName + " (proxy.max_client_connections is " + maxConnections + ")", () -> { }));
                return;
            }
            if (!acceptRate.tryAccept()) {
                refusedForRate.increment();
                ch.pipeline().addLast(new io.metako.proxy.protocol.RefuseOnConnect(
                        io.metako.proxy.protocol.SqlState.TOO_MANY_CONNECTIONS, "too many new connections on " + portName
                                + " (proxy.max_new_connections_per_second is " + acceptRate.perSecond() + "); retry shortly",
                        () -> { }));
                return;
            }
            ForwardingSession s = new ForwardingSession(ForwardingProxy.this, ch);
            sessions.add(s);
            ch.closeFuture().addListener(f -> sessions.remove(s));
            ch.pipeline().addLast(s.frontendHandler());
        });
        LOG.info("{} forwarding port listening on {}:{}", role == Role.PRIMARY ? "rw" : "ro", host, port());
        return this;
    }

    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    Role role() {
        return role;
    }

    Duration failoverWait() {
        return failoverWait;
    }

    ProxyEventLoops loops() {
        return loops;
    }

    /** Why nothing goes through this instance any more (see {@link RoutingTable#closed(String)}), or null. */
    String closed() {
        return table.get().closed();
    }

    /** Where a new connection goes now, if anywhere. */
    Optional<RoutingTable.Backend> target() {
        RoutingTable t = table.get();
        if (role == Role.PRIMARY) {
            return t.acceptsWrites() ? t.primary() : Optional.empty();
        }
        if (!t.writableNow()) {
            return Optional.empty();
        }
        return selector.apply(t).select(t.replicas().stream().filter(RoutingTable.Replica::loadBalanced).toList())
                .map(RoutingTable.Replica::backend);
    }

    /** Whether {@code backend} may still carry this port's traffic under {@code t}. */
    boolean stillValid(RoutingTable t, RoutingTable.Backend backend) {
        if (role == Role.PRIMARY) {
            return t.acceptsWrites() && t.primary().filter(backend::equals).isPresent();
        }
        return t.writableNow() && t.replicas().stream().anyMatch(r -> r.backend().equals(backend));
    }

    /** Whether a connection of this port to {@code backend} may pass bytes now (the rw port asks the lease). */
    boolean mayCarry(RoutingTable.Backend backend) {
        return role != Role.PRIMARY || table.get().primaryNow(backend);
    }

        /** Open connections of this port to {@code backend}. */
    public int connectionsTo(String backend) {
        java.util.concurrent.atomic.AtomicInteger n = perBackend.get(backend);
        return n == null ? 0 : n.get();
    }

    void bound(RoutingTable.Backend backend, Channel client) {
        java.util.concurrent.atomic.AtomicInteger n = perBackend.computeIfAbsent(backend.name(),
                k -> new java.util.concurrent.atomic.AtomicInteger());
        n.incrementAndGet();
        client.closeFuture().addListener(f -> n.decrementAndGet());
    }

    /** Called with every new routing table: connections to backends that lost their role are closed. */
    public void onRoutingTable(RoutingTable t) {
        for (ForwardingSession s : sessions) {
            s.checkStillValid(t);
        }
    }

    public int openSessions() {
        return sessions.size();
    }

    /** Sockets refused since the start because they came faster than {@code max_new_connections_per_second}. */
    public long refusedForRate() {
        return refusedForRate.sum();
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        sessions.forEach(ForwardingSession::close);
    }
}

package io.metako.server.routing;

import io.metako.proxy.auth.ScramVerifier;
import io.metako.proxy.forward.ForwardingProxy;
import io.metako.proxy.net.ProxyEventLoops;
import io.metako.proxy.session.RouterSettings;
import io.metako.proxy.session.StatementRouter;
import io.metako.server.config.LoadBalancerConfig;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.NodeConfig;
import io.metako.server.config.ProxyConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The proxy ports of one instance: the statement router on {@code proxy.port} and the optional
 * forwarding ports {@code rw_port} / {@code ro_port}, on one event-loop group, all following the
 * routing table this instance publishes.
 */
public final class ProxyPorts implements AutoCloseable {
    private final ProxyEventLoops loops;
    private final StatementRouter router;
    private final List<ForwardingProxy> forwarding = new ArrayList<>();
    /** What the router presents to TLS clients (null: TLS off); a reload may renew it. */
    private final io.metako.server.tls.InstanceCertificate certificate;

    private ProxyPorts(ProxyEventLoops loops, StatementRouter router, io.metako.server.tls.InstanceCertificate certificate) {
        this.loops = loops;
        this.router = router;
        this.certificate = certificate;
    }

    /** Opens the ports {@code config.proxy()} names; the listener it adds keeps them on {@code routing}'s table. */
    public static ProxyPorts open(MetakoConfig config, RoutingPublisher routing) throws IOException {
        return open(config, routing, null);
    }

    /** Likewise, presenting {@code certificate} to TLS clients (null: read from security.cert_file / key_file). */
    public static ProxyPorts open(MetakoConfig config, RoutingPublisher routing,
                                  io.metako.server.tls.InstanceCertificate certificate) throws IOException {
        ProxyConfig p = config.proxy();
        boolean leastConnections = config.loadBalancer().algorithm() == LoadBalancerConfig.Algorithm.LEAST_CONNECTIONS;
        ProxyEventLoops loops = ProxyEventLoops.create(p.eventLoopThreads(Runtime.getRuntime().availableProcessors()),
                p.transport());
        ProxyPorts ports = null;
        try {
            StatementRouter router = new StatementRouter(routerSettings(config, leastConnections, certificate),
                    routing::current, loops).start(p.listenHost(), p.port());
            ports = new ProxyPorts(loops, router, certificate);
            if (p.rwPort() != 0) {
                ports.forwarding.add(new ForwardingProxy(ForwardingProxy.Role.PRIMARY, routing::current, leastConnections,
                        p.failoverWait(), loops, p.maxClientConnections(), p.maxNewConnectionsPerSecond())
                        .start(p.listenHost(), p.rwPort()));
            }
            if (p.roPort() != 0) {
                ports.forwarding.add(new ForwardingProxy(ForwardingProxy.Role.REPLICA, routing::current, leastConnections,
                        p.failoverWait(), loops, p.maxClientConnections(), p.maxNewConnectionsPerSecond())
                        .start(p.listenHost(), p.roPort()));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close(ports, loops);
            throw new IOException("interrupted while opening the proxy ports", e);
        } catch (RuntimeException e) {
            close(ports, loops);
            throw new IOException("cannot open the proxy ports on " + p.listenHost() + " (" + p.port()
                    + (p.rwPort() != 0 ? ", " + p.rwPort() : "") + (p.roPort() != 0 ? ", " + p.roPort() : "") + "): "
                    + e.getMessage(), e);
        }
        ProxyPorts opened = ports;
        routing.addListener(opened::onRoutingTable);
        return opened;
    }

    private static void close(ProxyPorts ports, ProxyEventLoops loops) {
        if (ports != null) {
            ports.close();
        } else {
            loops.close();
        }
    }

    /**
     * Applies a reloaded configuration to the statement router: its users, client authentication, node credentials
     * and TLS certificates (read again from their files). Throws, changing nothing, when the files cannot be used.
     */
    public void reload(MetakoConfig config) throws IOException {
        router.reload(routerSettings(config,
                config.loadBalancer().algorithm() == LoadBalancerConfig.Algorithm.LEAST_CONNECTIONS, certificate));
    }

    /** The statement router's settings from the configuration (public for tests that start a router of their own). */
    public static RouterSettings routerSettings(MetakoConfig config, boolean leastConnections) throws IOException {
        return routerSettings(config, leastConnections, null);
    }

    private static RouterSettings routerSettings(MetakoConfig config, boolean leastConnections,
                                                 io.metako.server.tls.InstanceCertificate certificate) throws IOException {
        ProxyConfig p = config.proxy();
        Map<String, RouterSettings.ClientUser> users = new LinkedHashMap<>();
        for (ProxyConfig.ProxyUser u : p.users()) {
            users.put(u.name(), u.password().isPresent()
                    ? RouterSettings.ClientUser.withPassword(u.name(), u.password().reveal())
                    : RouterSettings.ClientUser.withVerifier(u.name(), ScramVerifier.parse(u.scramVerifier().reveal())));
        }
        RouterSettings.BackendTls backendTls = backendTls(config);
        Map<String, RouterSettings.BackendLogin> logins = new LinkedHashMap<>();
        for (NodeConfig n : config.nodes()) {
            logins.put(n.name(), new RouterSettings.BackendLogin(n.username(), n.password().reveal(), backendTls,
                    config.security().backendAllowCleartextPassword()));
        }
        // a node of the topology missing from this file gets no one else's credentials: its logins fail, saying why
        RouterSettings.BackendLogin fallback = RouterSettings.BackendLogin.unconfigured();
        return new RouterSettings((int) Math.min(p.maxMessageSize(), Integer.MAX_VALUE), p.maxClientConnections(),
                p.startupTimeout(), p.failoverWait(), p.staleReads(), leastConnections,
                RouterSettings.ClientAuth.valueOf(p.clientAuth().name()), users,
                name -> logins.getOrDefault(name, fallback), tls(config, certificate), p.backendIdleMax(), p.backendIdleTimeout(),
                p.requireTls(), p.maxBufferedBytes());
    }

    /** TLS toward the nodes ({@code security.backend_sslmode}). */
    static RouterSettings.BackendTls backendTls(MetakoConfig config) throws IOException {
        var s = config.security();
        RouterSettings.SslMode mode = s.backendSslMode();
        if (mode == RouterSettings.SslMode.DISABLE) {
            return RouterSettings.BackendTls.DISABLED;
        }
        try {
            SslContextBuilder b = SslContextBuilder.forClient();
            if (mode.verifies()) {
                b.trustManager(s.backendRootCert().toFile());
            } else {
                b.trustManager(io.netty.handler.ssl.util.InsecureTrustManagerFactory.INSTANCE); // encrypts, checks nothing
            }
            return new RouterSettings.BackendTls(mode, b.build());
        } catch (IOException | RuntimeException e) {
            throw new IOException(mode.verifies()
                    ? "security.backend_ssl_root_cert: cannot load the CA certificate (" + e.getMessage() + "); it must be PEM"
                    : "security.backend_sslmode " + mode.setting() + ": cannot set up TLS toward the nodes (" + e.getMessage()
                            + ")", e);
        }
    }

    private static Optional<SslContext> tls(MetakoConfig config, io.metako.server.tls.InstanceCertificate certificate)
            throws IOException {
        var s = config.security();
        if (!s.tlsEnabled()) {
            return Optional.empty();
        }
        try {
            io.metako.server.tls.InstanceCertificate c = certificate != null ? certificate
                    : io.metako.server.tls.InstanceCertificate.load(s.certFile(), s.keyFile());
            return Optional.of(SslContextBuilder.forServer(c.keyManager()).build());
        } catch (IOException | RuntimeException e) {
            throw new IOException("security.cert_file / key_file: cannot load the TLS certificate and key ("
                    + e.getMessage() + "); the key must be PEM (PKCS#8)", e);
        }
    }

    /** Applied synchronously: when it returns, no session routes to a backend the table dropped. */
    private void onRoutingTable(io.metako.proxy.routing.RoutingTable t) {
        router.onRoutingTable(t);
        forwarding.forEach(f -> f.onRoutingTable(t));
    }

    public StatementRouter router() {
        return router;
    }

    /** Completes once every proxy event loop has finished what it was doing: see {@link ProxyEventLoops#barrier()}. */
    public java.util.concurrent.CompletableFuture<Void> barrier() {
        return loops.barrier();
    }

    @Override
    public void close() {
        router.close();
        forwarding.forEach(ForwardingProxy::close);
        loops.close();
    }
}

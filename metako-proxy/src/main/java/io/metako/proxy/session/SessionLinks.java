package io.metako.proxy.session;

import io.metako.proxy.routing.RoutingTable;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backend connections of one client session, at most one per node, and which is which: {@link #home}
 * (the first, whose parameters the client was shown), {@link #current} (runs the unit in flight),
 * {@link #last} (ran the last unit) and {@link #transaction} (holds the open transaction). It opens links,
 * by adopting one its event loop kept for reuse or by connecting, and gives them up at the end.
 */
final class SessionLinks {
    private static final Logger LOG = LoggerFactory.getLogger(SessionLinks.class);

    private final StatementRouter router;
    private final LinkOwner session;
    private final int sessionId;
    private final EventLoop loop;
    private final Map<String, BackendLink> byNode = new HashMap<>();
    /** The startup parameters the backends get (the client's, without its user name). */
    private final Map<String, String> parameters;
    /** The same in a canonical form: part of the key of the backend connections this session can reuse. */
    private final String parametersKey;
    BackendLink home;
    BackendLink current;
    BackendLink last;
    BackendLink transaction;

    SessionLinks(StatementRouter router, LinkOwner session, int sessionId, EventLoop loop, Map<String, String> parameters) {
        this.router = router;
        this.session = session;
        this.sessionId = sessionId;
        this.loop = loop;
        this.parameters = parameters;
        StringBuilder key = new StringBuilder();
        new TreeMap<>(parameters).forEach((k, v) -> key.append(k).append('\0').append(v).append('\0'));
        this.parametersKey = key.toString();
    }

    /** The session's link to {@code b}, if it has one that is not closed. */
    BackendLink to(RoutingTable.Backend b) {
        BackendLink l = byNode.get(b.name());
        return l == null || l.phase() == BackendLink.Phase.CLOSED ? null : l;
    }

    /** Whether {@code link} is the session's current link to its node. */
    boolean holds(BackendLink link) {
        return byNode.get(link.backend.name()) == link;
    }

    /** A snapshot of the session's links. */
    List<BackendLink> all() {
        return new ArrayList<>(byNode.values());
    }

    /** The session's links themselves (not to be changed while iterating). */
    java.util.Collection<BackendLink> live() {
        return byNode.values();
    }

    int size() {
        return byNode.size();
    }

    /**
     * A link to {@code b}: a kept one with the same startup parameters (then READY at once: the caller
     * treats it as just logged in), else a new connection that logs in first.
     */
    /** How long a new backend connection may take to connect and log in (or proxy.failover_wait if shorter). */
    static final long BACKEND_LOGIN_TIMEOUT_MILLIS = 5_000;

    /** The key of what this session's backends are logged in with (its startup parameters). */
    String parametersKey() {
        return parametersKey;
    }

    BackendLink open(RoutingTable.Backend b) {
        String key = b.name() + '@' + b.host() + ':' + b.port() + '\0' + parametersKey;
        BackendLink pooled = router.pool(loop).take(key);
        router.linkOpened(b.name());
        if (pooled != null) {
            pooled.ownedBy(session);
            byNode.put(b.name(), pooled);
            LOG.debug("proxy session {} reuses a backend connection to {}", sessionId, b.name());
            return pooled;
        }
        RouterSettings settings = router.settings();
        BackendLink link = new BackendLink(session, b, settings.maxMessageSize(), key);
        RouterSettings.BackendLogin credentials = settings.backendLogin().apply(b.name());
        BackendLogin login = new BackendLogin(link, credentials, parameters, router.deriver());
        byNode.put(b.name(), link);
        ChannelFuture cf = router.loops().connect(loop, new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                if (credentials.tls().mode() != RouterSettings.SslMode.DISABLE) {
                    ch.pipeline().addLast("tls-request", new BackendTlsRequest(link, credentials.tls()));
                }
                ch.pipeline().addLast("login", login).addLast("link", link);
            }
        }, b.host(), b.port());
        cf.addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                // in a task of its own: a connect that fails at once (a host that does not resolve) would otherwise
                // report before the caller has made the link its home or current one, and nothing would wait for it
                loop.execute(() -> link.connectFailed(f.cause()));
            }
        });
        // a node that accepts the connection and never answers (a frozen postmaster: the kernel still accepts)
        // must not hold a login or a statement forever
        long timeout = Math.min(BACKEND_LOGIN_TIMEOUT_MILLIS, settings.failoverWait().toMillis());
        loop.schedule(() -> {
            if (link.phase() != BackendLink.Phase.READY && link.phase() != BackendLink.Phase.CLOSED) {
                link.loginFailed(null, "no answer to the login within " + timeout + " ms");
                link.close();
            }
        }, timeout, java.util.concurrent.TimeUnit.MILLISECONDS);
        return link;
    }

    /** {@code link} closed: forgotten, and no longer counted. */
    void closed(BackendLink link) {
        byNode.remove(link.backend.name(), link);
        router.linkClosed(link.backend.name());
        if (link == last) {
            last = null;
        }
    }

    /** No unit may be sent on {@code link} any more (it is failing or its node left the table). */
    void drop(BackendLink link) {
        byNode.remove(link.backend.name(), link);
        if (link == last) {
            last = null;
        }
    }

    /** Where a SET goes first: a backend the session already uses, else null. */
    RoutingTable.Backend inUse() {
        for (BackendLink l : new BackendLink[] {last, home}) {
            if (l != null && l.phase() == BackendLink.Phase.READY && holds(l)) {
                return l.backend;
            }
        }
        return null;
    }

    /** The client drained what was relayed: links that stopped reading for it read again. */
    void resumeReading() {
        for (BackendLink l : byNode.values()) {
            l.resumeForClient();
        }
    }

    /** Runs the proxy's {@code sql} (a session setting) on every logged-in link but {@code ranOn}, answers dropped. */
    void replayElsewhere(BackendLink ranOn, String sql) {
        for (BackendLink l : byNode.values()) {
            if (l != ranOn && l.phase() == BackendLink.Phase.READY) {
                l.sendInternal(sql, UnitTracker.Owner.SWALLOW);
            }
        }
    }

    /** The session ended: each link goes to the pool when it is clean and wanted there, else it is closed. */
    void release() {
        for (BackendLink l : all()) {
            byNode.remove(l.backend.name(), l);
            if (!router.park(l)) {
                l.close();
            }
        }
    }
}

package io.metako.proxy.session;

import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Backend connections whose sessions ended cleanly, reset and kept for the next session of the same
 * event loop that needs the same node with the same startup parameters (PgBouncer's session pooling).
 * Reusing one saves the connect, the login and PostgreSQL's fork; above all, a reused backend has warm
 * caches, while a new one runs its first seconds of queries at a fraction of the speed.
 *
 * <p>While kept, a link is the pool's: the pool is its {@link LinkOwner}, keeps a read pending on it (to see
 * its reset answered or the server go away), closes it when its reset fails, when the server speaks out of
 * turn, or after the idle timeout.
 *
 * <p>Confined to one event loop, like the links it holds (a channel never changes loops, so a session
 * reuses only what its own loop kept); only the count per node is shared by the loops.
 */
final class BackendPool implements LinkOwner {
    private static final Logger LOG = LoggerFactory.getLogger(BackendPool.class);

    private final EventLoop loop;
    private final int maxIdlePerNode;
    private final Duration idleTimeout;
    /** Idle links per node over the pools of all event loops: the limit holds for the instance. */
    private final Map<String, AtomicInteger> idlePerNode;
    private final Map<String, ArrayDeque<BackendLink>> idle = new HashMap<>();
    private final Map<BackendLink, ScheduledFuture<?>> timers = new HashMap<>();

    BackendPool(EventLoop loop, int maxIdlePerNode, Duration idleTimeout, Map<String, AtomicInteger> idlePerNode) {
        this.loop = loop;
        this.maxIdlePerNode = maxIdlePerNode;
        this.idleTimeout = idleTimeout;
        this.idlePerNode = idlePerNode;
    }

    /**
     * Keeps {@code link}, its session ended, and resets it (DISCARD ALL: settings, prepared statements,
     * temporary tables, LISTENs, advisory locks); false (and not kept) when its node already has
     * {@code maxIdlePerNode} idle links.
     */
    boolean offer(BackendLink link) {
        AtomicInteger n = idlePerNode.computeIfAbsent(link.backend.name(), k -> new AtomicInteger());
        if (n.incrementAndGet() > maxIdlePerNode) {
            n.decrementAndGet();
            return false;
        }
        idle.computeIfAbsent(link.poolKey, k -> new ArrayDeque<>()).addLast(link);
        link.ownedBy(this);
        link.prepared.clearNamed();
        link.sendInternal("DISCARD ALL", UnitTracker.Owner.SWALLOW);
        timers.put(link, loop.schedule(() -> {
            LOG.debug("closing idle pooled backend connection to {}", link.backend.name());
            link.close();
        }, idleTimeout.toMillis(), TimeUnit.MILLISECONDS));
        return true;
    }

    /**
     * The most recently kept link with {@code key} whose reset is done, taken out of the pool (the caller
     * owns it now); null when there is none. Most recent first: the others stay idle long enough to time
     * out when fewer are needed.
     */
    BackendLink take(String key) {
        ArrayDeque<BackendLink> links = idle.get(key);
        if (links == null) {
            return null;
        }
        for (var it = links.descendingIterator(); it.hasNext(); ) {
            BackendLink l = it.next();
            if (l.idleAndOpen()) {
                remove(l);
                return l;
            }
        }
        return null;
    }

    /** Forgets {@code link} (taken, closed or timed out). */
    private void remove(BackendLink link) {
        ScheduledFuture<?> timer = timers.remove(link);
        if (timer != null) {
            timer.cancel(false);
        }
        ArrayDeque<BackendLink> links = idle.get(link.poolKey);
        if (links != null && links.remove(link)) {
            idlePerNode.get(link.backend.name()).decrementAndGet();
            if (links.isEmpty()) {
                idle.remove(link.poolKey);
            }
        }
    }

    /** Closes the idle links to nodes {@code t} no longer lets serve (failed, quarantined, removed). */
    void retain(RoutingTable t) {
        for (BackendLink l : all()) {
            if (!t.serves(l.backend)) {
                l.close();
            }
        }
    }

    /** Closes every idle link. */
    void closeAll() {
        all().forEach(BackendLink::close);
    }

    /** Links ready to serve a session now (kept, reset done). */
    int ready() {
        int n = 0;
        for (ArrayDeque<BackendLink> links : idle.values()) {
            for (BackendLink l : links) {
                n += l.idleAndOpen() ? 1 : 0;
            }
        }
        return n;
    }

    private List<BackendLink> all() {
        List<BackendLink> all = new ArrayList<>();
        idle.values().forEach(all::addAll);
        return all;
    }

    // ---- LinkOwner: what a kept link reports ----------------------------------------------------

    @Override
    public void linkReady(BackendLink link) {
        // a kept link logged in long ago
    }

    @Override
    public void linkClosed(BackendLink link, BackendLink.Phase was) {
        remove(link);
    }

    @Override
    public void readComplete(BackendLink link) {
        link.read();
    }

    @Override
    public void writabilityChanged(BackendLink link) {
        // it sends nothing but its reset
    }

    @Override
    public void errorOutsideUnit(BackendLink link) {
        link.close(); // not to be handed to a session
    }

    @Override
    public AsyncDelivery asyncDelivery() {
        return AsyncDelivery.DROP;
    }

    @Override
    public void holdAsync(byte type, ByteBuf payload) {
        // never asked to hold: asyncDelivery drops
    }

    @Override
    public void relay(ByteBuf bytes) {
        bytes.release(); // a kept link runs only the proxy's reset, whose answers are not relayed
    }

    @Override
    public void unitAnswered(BackendLink link) {
    }

    @Override
    public boolean retryInstead(BackendLink link) {
        return false;
    }

    @Override
    public void clientUnitDone(BackendLink link, char status, boolean failed) {
        // a kept link carries no session unit
    }

    @Override
    public void internalUnitFailed(BackendLink link) {
        link.close(); // the reset failed: the session state it leaves is unknown
    }

    @Override
    public void lsnObserved(long lsn) {
    }
}

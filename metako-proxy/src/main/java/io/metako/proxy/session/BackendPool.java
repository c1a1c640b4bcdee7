package io.metako.proxy.session;

import io.metako.proxy.routing.RoutingTable;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Backend connections whose sessions ended cleanly, reset and kept for the next session of the same
 * event loop that needs the same node with the same startup parameters (PgBouncer's session pooling).
 * Reusing one saves the connect, the login and PostgreSQL's fork; above all, a reused backend has warm
 * caches, while a new one runs its first seconds of queries at a fraction of the speed.
 *
 * <p>Confined to one event loop, like the links it holds (a channel never changes loops, so a session
 * reuses only what its own loop kept); only the count per node is shared by the loops.
 */
final class BackendPool {
    private final int maxIdlePerNode;
    /** Idle links per node over the pools of all event loops: the limit holds for the instance. */
    private final Map<String, AtomicInteger> idlePerNode;
    private final Map<String, ArrayDeque<BackendLink>> idle = new HashMap<>();

    BackendPool(int maxIdlePerNode, Map<String, AtomicInteger> idlePerNode) {
        this.maxIdlePerNode = maxIdlePerNode;
        this.idlePerNode = idlePerNode;
    }

    /** Keeps {@code link}; false (and not kept) when its node already has {@code maxIdlePerNode} idle links. */
    boolean offer(BackendLink link) {
        AtomicInteger n = idlePerNode.computeIfAbsent(link.backend.name(), k -> new AtomicInteger());
        if (n.incrementAndGet() > maxIdlePerNode) {
            n.decrementAndGet();
            return false;
        }
        idle.computeIfAbsent(link.poolKey, k -> new ArrayDeque<>()).addLast(link);
        return true;
    }

    /**
     * The most recently parked link with {@code key} whose reset is done, taken out of the pool; null
     * when there is none. Most recent first: the others stay idle long enough to time out when fewer are needed.
     */
    BackendLink take(String key) {
        ArrayDeque<BackendLink> links = idle.get(key);
        if (links == null) {
            return null;
        }
        for (var it = links.descendingIterator(); it.hasNext(); ) {
            BackendLink l = it.next();
            if (l.parkedAndReset()) {
                return l; // the caller adopts it, which removes it here
            }
        }
        return null;
    }

    /** Forgets {@code link} (adopted, closed or timed out). */
    void remove(BackendLink link) {
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

    /** Links ready to serve a session now (parked, reset done). */
    int ready() {
        int n = 0;
        for (ArrayDeque<BackendLink> links : idle.values()) {
            for (BackendLink l : links) {
                n += l.parkedAndReset() ? 1 : 0;
            }
        }
        return n;
    }

    private List<BackendLink> all() {
        List<BackendLink> all = new ArrayList<>();
        idle.values().forEach(all::addAll);
        return all;
    }
}

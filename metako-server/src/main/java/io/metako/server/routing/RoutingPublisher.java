package io.metako.server.routing;

import io.metako.proxy.routing.RoutingTable;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds this instance's current {@link RoutingTable} and hands every new one to the listeners
 * (the proxy). {@link #refresh()} runs after every applied change and on the lease clock; a
 * table equal to the current one is not published again.
 */
public final class RoutingPublisher {
    private static final Logger LOG = LoggerFactory.getLogger(RoutingPublisher.class);

    private final Supplier<RoutingTable> compute;
    private final List<Consumer<RoutingTable>> listeners = new CopyOnWriteArrayList<>();
    private volatile RoutingTable current = RoutingTable.unknown();

    public RoutingPublisher(Supplier<RoutingTable> compute) {
        this.compute = compute;
    }

    public RoutingTable current() {
        return current;
    }

    /** {@code listener} gets the current table now and every later one. */
    public void addListener(Consumer<RoutingTable> listener) {
        listeners.add(listener);
        listener.accept(current);
    }

    public synchronized void refresh() {
        RoutingTable next = compute.get();
        if (next.equals(current)) {
            return;
        }
        RoutingTable before = current;
        current = next;
        if (before.writable() != next.writable() || before.epoch() != next.epoch()
                || !before.primary().equals(next.primary())) {
            LOG.info("routing: epoch {}, primary {}, {} readable replicas, {} (was epoch {}, {})", next.epoch(),
                    next.primary().map(RoutingTable.Backend::name).orElse("none"), next.replicas().size(),
                    next.writable() ? "writable" : "not writable (no lease)", before.epoch(),
                    before.writable() ? "writable" : "not writable");
        }
        for (Consumer<RoutingTable> l : listeners) {
            l.accept(next);
        }
    }
}

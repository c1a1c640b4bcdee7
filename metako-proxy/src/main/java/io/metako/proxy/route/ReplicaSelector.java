package io.metako.proxy.route;

import io.metako.proxy.routing.RoutingTable;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToIntFunction;

/** Picks the replica for one read among the eligible ones. */
public interface ReplicaSelector {
    Optional<RoutingTable.Replica> select(List<RoutingTable.Replica> eligible);

    /** Each replica in turn. */
    static ReplicaSelector roundRobin() {
        AtomicLong next = new AtomicLong();
        return eligible -> eligible.isEmpty() ? Optional.empty()
                : Optional.of(eligible.get((int) Math.floorMod(next.getAndIncrement(), (long) eligible.size())));
    }

    /** The replica with the fewest active backend connections (ties: the least lagging, then the name). */
    static ReplicaSelector leastConnections(ToIntFunction<String> activeConnections) {
        return eligible -> eligible.stream().min(Comparator
                .comparingInt((RoutingTable.Replica r) -> activeConnections.applyAsInt(r.backend().name()))
                .thenComparingLong(RoutingTable.Replica::lagBytes)
                .thenComparing(r -> r.backend().name()));
    }

    /**
     * The selector a routing table asks for: its {@link RoutingTable.Balance}, or {@code configured} when the
     * table leaves it to the port. One instance of each kind per port, so round robin keeps its turn across tables.
     */
    static java.util.function.Function<RoutingTable, ReplicaSelector> byTable(boolean configuredLeastConnections,
                                                                              ToIntFunction<String> activeConnections) {
        ReplicaSelector roundRobin = roundRobin();
        ReplicaSelector least = leastConnections(activeConnections);
        return table -> switch (table.balance()) {
            case ROUND_ROBIN -> roundRobin;
            case LEAST_CONNECTIONS -> least;
            case CONFIGURED -> configuredLeastConnections ? least : roundRobin;
        };
    }
}

package io.metako.proxy.route;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proxy.routing.RoutingTable;
import io.metako.proxy.routing.WriteLease;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class ReplicaSelectorTest {
    static final RoutingTable.Replica A = new RoutingTable.Replica(new RoutingTable.Backend("a", "h", 1), 0, 0, true);
    static final RoutingTable.Replica B = new RoutingTable.Replica(new RoutingTable.Backend("b", "h", 2), 0, 0, true);

    static RoutingTable table(RoutingTable.Balance balance) {
        return new RoutingTable(1, Optional.empty(), List.of(A, B), true, WriteLease.always(), balance);
    }

    static List<String> picks(Function<RoutingTable, ReplicaSelector> selectors, RoutingTable t, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(selectors.apply(t).select(t.replicas()).orElseThrow().backend().name());
        }
        return out;
    }

    @Test
    void theTableChoosesTheAlgorithmAndConfiguredFallsBackToThePorts() {
        Map<String, Integer> open = Map.of("a", 5, "b", 0); // a is busy
        Function<RoutingTable, ReplicaSelector> roundRobinPort = ReplicaSelector.byTable(false, open::get);
        Function<RoutingTable, ReplicaSelector> leastPort = ReplicaSelector.byTable(true, open::get);
        assertThat(picks(roundRobinPort, table(RoutingTable.Balance.LEAST_CONNECTIONS), 4)).containsOnly("b");
        assertThat(picks(leastPort, table(RoutingTable.Balance.ROUND_ROBIN), 4)).containsExactly("a", "b", "a", "b");
        assertThat(picks(roundRobinPort, table(RoutingTable.Balance.CONFIGURED), 4)).containsExactly("a", "b", "a", "b");
        assertThat(picks(leastPort, table(RoutingTable.Balance.CONFIGURED), 4)).containsOnly("b");
        // one round robin per port: its turn goes on across tables
        Function<RoutingTable, ReplicaSelector> port = ReplicaSelector.byTable(false, open::get);
        assertThat(picks(port, table(RoutingTable.Balance.ROUND_ROBIN), 1)).containsExactly("a");
        assertThat(picks(port, table(RoutingTable.Balance.CONFIGURED), 1)).containsExactly("b");
    }
}

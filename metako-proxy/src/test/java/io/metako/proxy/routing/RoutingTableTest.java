package io.metako.proxy.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RoutingTableTest {
    private static final RoutingTable.Backend PG1 = new RoutingTable.Backend("pg-1", "127.0.0.1", 5432);

    @Test
    void writesNeedBothAPrimaryAndTheLease() {
        assertThat(new RoutingTable(3, Optional.of(PG1), List.of(), true).acceptsWrites()).isTrue();
        assertThat(new RoutingTable(3, Optional.of(PG1), List.of(), false).acceptsWrites()).isFalse();
        assertThat(new RoutingTable(4, Optional.empty(), List.of(), true).acceptsWrites()).isFalse();
        assertThat(RoutingTable.unknown().acceptsWrites()).isFalse();
    }

    @Test
    void aNodeServesAsTheLeasedPrimaryOrAsAReplicaFitForReads() {
        RoutingTable.Backend pg2 = new RoutingTable.Backend("pg-2", "127.0.0.1", 5433);
        RoutingTable.Backend pg3 = new RoutingTable.Backend("pg-3", "127.0.0.1", 5434);
        RoutingTable t = new RoutingTable(1, Optional.of(PG1), List.of(new RoutingTable.Replica(pg2, 0, 0, true)), true);
        assertThat(t.serves(PG1)).isTrue();
        assertThat(t.serves(pg2)).isTrue();
        assertThat(t.serves(pg3)).as("not in the table (quarantined, unknown)").isFalse();
        RoutingTable noLease = new RoutingTable(1, Optional.of(PG1), List.of(new RoutingTable.Replica(pg2, 0, 0, true)), false);
        assertThat(noLease.serves(PG1)).as("the primary, while this instance holds no lease").isFalse();
        assertThat(noLease.serves(pg2)).isTrue();
    }

    @Test
    void isImmutableAndComparedByValue() {
        List<RoutingTable.Replica> replicas = new ArrayList<>();
        replicas.add(new RoutingTable.Replica(new RoutingTable.Backend("pg-2", "127.0.0.1", 5433), 0, 0, true));
        RoutingTable t = new RoutingTable(1, Optional.of(PG1), replicas, true);
        replicas.clear();
        assertThat(t.replicas()).hasSize(1);
        assertThat(t).isEqualTo(new RoutingTable(1, Optional.of(PG1), List.of(new RoutingTable.Replica(
                new RoutingTable.Backend("pg-2", "127.0.0.1", 5433), 0, 0, true)), true));
    }
}

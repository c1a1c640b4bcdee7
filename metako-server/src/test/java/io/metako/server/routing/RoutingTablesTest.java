package io.metako.server.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.LoadBalancerSettings;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeTags;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import io.metako.proxy.routing.RoutingTable;
import io.metako.proxy.routing.WriteLease;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RoutingTablesTest {
    static final List<String> MEMBERS = List.of("m1", "m2", "m3");

    static Node node(String name, int port, NodeRole role) {
        return Node.newBuilder().setName(name).setHost("127.0.0.1").setPort(port).setRole(role)
                .setTags(NodeTags.getDefaultInstance()).build();
    }

    static ClusterState.Builder state() {
        ClusterState.Builder b = ClusterState.newBuilder().setSeeded(true).setEpoch(7).setPrimary("pg-1")
                .setSettings(ClusterSettings.newBuilder().setLoadBalancer(LoadBalancerSettings.newBuilder()
                        .setMaxReplicaLagBytes(1000)))
                .addNodes(node("pg-1", 5432, NodeRole.PRIMARY)).addNodes(node("pg-2", 5433, NodeRole.REPLICA))
                .addNodes(node("pg-3", 5434, NodeRole.REPLICA)).addNodes(node("pg-4", 5435, NodeRole.QUARANTINED));
        for (String n : List.of("pg-1", "pg-2", "pg-3", "pg-4")) {
            for (String m : MEMBERS) {
                b.addVerdicts(VerdictRecord.newBuilder().setInstanceId(m).setNode(n).setVerdict(Verdict.UP));
            }
        }
        return b;
    }

    static Map<String, NodeObservation> observations() {
        Map<String, NodeObservation> o = new HashMap<>();
        o.put("pg-1", NodeObservation.newBuilder().setReachable(true).setCurrentLsn("0/1000").build());
        o.put("pg-2", NodeObservation.newBuilder().setReachable(true).setInRecovery(true).setReplayLsn("0/1000").build());
        o.put("pg-3", NodeObservation.newBuilder().setReachable(true).setInRecovery(true).setReplayLsn("0/F00").build());
        o.put("pg-4", NodeObservation.newBuilder().setReachable(true).setInRecovery(true).setReplayLsn("0/1000").build());
        return o;
    }

    @Test
    void thePrimaryAndTheFitReplicasLeastLaggingFirst() {
        RoutingTable t = RoutingTables.of(state().build(), observations(), MEMBERS, WriteLease.always());
        assertThat(t.epoch()).isEqualTo(7);
        assertThat(t.primary()).hasValueSatisfying(p -> assertThat(p.port()).isEqualTo(5432));
        assertThat(t.replicas()).extracting(r -> r.backend().name() + ":" + r.lagBytes()).containsExactly("pg-2:0", "pg-3:256");
        assertThat(t.acceptsWrites()).isTrue();
    }

    @Test
    void quarantinedUnknownUnhealthyAndLaggingNodesGetNoTraffic() {
        ClusterState.Builder s = state();
        s.addVerdicts(VerdictRecord.newBuilder().setInstanceId("m1").setNode("pg-2").setVerdict(Verdict.DOWN));
        s.addVerdicts(VerdictRecord.newBuilder().setInstanceId("m2").setNode("pg-2").setVerdict(Verdict.DOWN));
        s.clearVerdicts().addAllVerdicts(s.getVerdictsList().stream()
                .filter(v -> !(v.getNode().equals("pg-2") && v.getVerdict() == Verdict.UP && !v.getInstanceId().equals("m3")))
                .toList());
        Map<String, NodeObservation> o = observations();
        o.put("pg-3", o.get("pg-3").toBuilder().setReplayLsn("0/100").build()); // 3840 bytes behind > 1000
        RoutingTable t = RoutingTables.of(s.build(), o, MEMBERS, WriteLease.always());
        assertThat(t.replicas()).isEmpty();
    }

    @Test
    void duringAFailoverThereIsNoPrimaryAndWithoutTheLeaseNoWrites() {
        RoutingTable failing = RoutingTables.of(state().setPrimary("").build(), observations(), MEMBERS, WriteLease.always());
        assertThat(failing.primary()).isEmpty();
        assertThat(failing.acceptsWrites()).isFalse();
        RoutingTable noLease = RoutingTables.of(state().build(), observations(), MEMBERS, WriteLease.create());
        assertThat(noLease.primary()).isPresent();
        assertThat(noLease.acceptsWrites()).isFalse();
        assertThat(RoutingTables.of(ClusterState.getDefaultInstance(), Map.of(), MEMBERS, WriteLease.always())).isEqualTo(RoutingTable.unknown());
    }

    @Test
    void noloadbalanceReplicasAreListedButNotBalanced() {
        ClusterState.Builder s = state();
        s.setNodes(2, s.getNodes(2).toBuilder().setTags(NodeTags.newBuilder().setNoloadbalance(true)));
        RoutingTable t = RoutingTables.of(s.build(), observations(), MEMBERS, WriteLease.always());
        assertThat(t.replicas()).filteredOn(r -> r.backend().name().equals("pg-3")).singleElement()
                .satisfies(r -> assertThat(r.loadBalanced()).isFalse());
    }

    @Test
    void thePublisherSendsOnlyChangedTables() {
        java.util.concurrent.atomic.AtomicReference<RoutingTable> next = new java.util.concurrent.atomic.AtomicReference<>(
                RoutingTables.of(state().build(), observations(), MEMBERS, WriteLease.always()));
        RoutingPublisher p = new RoutingPublisher(next::get);
        List<RoutingTable> seen = new java.util.ArrayList<>();
        p.addListener(seen::add);
        p.refresh();
        p.refresh();
        next.set(RoutingTables.of(state().build(), observations(), MEMBERS, WriteLease.create()));
        p.refresh();
        assertThat(seen).extracting(RoutingTable::writable).containsExactly(false, true, false);
        assertThat(seen.get(0)).isEqualTo(RoutingTable.unknown());
    }

    @Test
    void theTableCarriesTheReplicatedBalancingSoEveryProxyChangesItAtTheSameIndex() {
        ClusterState.Builder s = state();
        s.getSettingsBuilder().getLoadBalancerBuilder().setAlgorithm("least_connections");
        assertThat(RoutingTables.of(s.build(), observations(), MEMBERS, WriteLease.always()).balance())
                .isEqualTo(RoutingTable.Balance.LEAST_CONNECTIONS);
        s.getSettingsBuilder().getLoadBalancerBuilder().setAlgorithm("round_robin");
        assertThat(RoutingTables.of(s.build(), observations(), MEMBERS, WriteLease.always()).balance())
                .isEqualTo(RoutingTable.Balance.ROUND_ROBIN);
        assertThat(RoutingTables.balance("least_connected")).isEqualTo(RoutingTable.Balance.LEAST_CONNECTIONS);
        assertThat(RoutingTables.balance("")).isEqualTo(RoutingTable.Balance.ROUND_ROBIN);
    }
}

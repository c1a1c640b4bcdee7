package io.metako.server.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.ProxyBackendConnections;
import io.metako.proto.v1.ProxyStatus;
import io.metako.proto.v1.TopologyEvent;
import io.metako.proto.v1.Verdict;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class InstanceMetricsTest {
    private static final ClusterStatus STATUS = ClusterStatus.newBuilder().setEpoch(3).setTerm(2).setAppliedIndex(41)
            .setInstances(3).setHoldsLease(true)
            .addNodes(NodeStatus.newBuilder().setNode(Node.newBuilder().setName("pg-1").setRole(NodeRole.QUARANTINED))
                    .setHealth(MajorityHealth.FAILED).setObservation(NodeObservation.newBuilder().setReachable(false)))
            .addNodes(NodeStatus.newBuilder().setNode(Node.newBuilder().setName("pg-2").setRole(NodeRole.PRIMARY))
                    .setHealth(MajorityHealth.HEALTHY).setObservation(NodeObservation.newBuilder().setReachable(true)
                            .setTimeline(2)))
            .addNodes(NodeStatus.newBuilder().setNode(Node.newBuilder().setName("pg-3").setRole(NodeRole.REPLICA))
                    .setHealth(MajorityHealth.HEALTHY).setObservation(NodeObservation.newBuilder().setReachable(true)
                            .setInRecovery(true).setTimeline(2).setLagBytes(4096).setLagSeconds(0.5)))
            .setProxy(ProxyStatus.newBuilder().setClientSessions(7).addBackends(ProxyBackendConnections.newBuilder()
                    .setNode("pg-2").setInUse(2).setKept(3)))
            .build();

    private final InstanceMetrics metrics = new InstanceMetrics(() -> STATUS, new InstanceMetrics.RaftNumbers() {
        @Override
        public long commitIndex() {
            return 42;
        }

        @Override
        public boolean isLeader() {
            return true;
        }
    });

    private String text() {
        return new String(metrics.scrape(), StandardCharsets.UTF_8);
    }

    @Test
    void theClusterAsThisInstanceSeesIt() {
        String t = text();
        assertThat(t).contains(
                "metako_node_healthy{node=\"pg-1\"} 0.0", "metako_node_healthy{node=\"pg-2\"} 1.0",
                "metako_node_role{node=\"pg-1\",role=\"quarantined\"} 1.0",
                "metako_node_role{node=\"pg-2\",role=\"primary\"} 1.0",
                "metako_node_replication_lag_bytes{node=\"pg-3\"} 4096.0",
                "metako_node_replication_lag_seconds{node=\"pg-3\"} 0.5",
                "metako_node_timeline{node=\"pg-2\"} 2.0",
                "metako_epoch 3.0", "metako_raft_term 2.0", "metako_raft_applied_index 41.0",
                "metako_raft_commit_index 42.0", "metako_raft_leader 1.0", "metako_raft_members 3.0",
                "metako_write_lease 1.0", "metako_proxy_client_sessions 7.0",
                "metako_proxy_backend_connections{node=\"pg-2\",state=\"in_use\"} 2.0",
                "metako_proxy_backend_connections{node=\"pg-2\",state=\"kept\"} 3.0",
                "# TYPE jvm_memory_used_bytes gauge");
        assertThat(t).as("a replica's lag only").doesNotContain("metako_node_replication_lag_bytes{node=\"pg-2\"}");
        assertThat(metrics.contentType()).startsWith("text/plain; version=0.0.4");
    }

    private static TopologyEvent event(EventKind kind, long started, long ended, String reason) {
        return TopologyEvent.newBuilder().setKind(kind).setStartedMillis(started).setTimeMillis(ended).setReason(reason)
                .build();
    }

    @Test
    void eventsAreCountedOnceFromTheFirstStateSeen() {
        List<TopologyEvent> history = new ArrayList<>(List.of(event(EventKind.BOOTSTRAPPED, 0, 1, "seeded"),
                event(EventKind.FAILOVER, 1_000, 2_500, "pg-1 failed for 2/3 instances")));
        // the baseline: what the instance knew when it started (5 s into this history's clock) is not counted
        metrics.baseline(ClusterState.newBuilder().addAllHistory(history).build(), 5_000);
        history.add(event(EventKind.FAILOVER, 3_000, 4_000, "replayed from the log: before the instance started"));
        metrics.onState(ClusterState.newBuilder().addAllHistory(history).build());
        history.add(event(EventKind.FAILOVER, 10_000, 11_200, "pg-2 failed for 3/3 instances"));
        history.add(event(EventKind.SWITCHOVER, 20_000, 20_400, "switchover to pg-1 asked by an operator"));
        metrics.onState(ClusterState.newBuilder().addAllHistory(history).build());
        metrics.onState(ClusterState.newBuilder().addAllHistory(history).build()); // the same state again
        history.add(event(EventKind.FAILOVER, 30_000, 30_100, "aborted: asked by an operator"));
        history.add(event(EventKind.FAILOVER, 40_000, 41_000, "failover to pg-3 asked by an operator while pg-1 is up"));
        history.add(event(EventKind.REJOIN, 50_000, 53_000, "pg-2 streams from pg-1"));
        history.add(event(EventKind.ADOPTED, 0, 60_000, "pg-2 streams from pg-1"));
        metrics.onState(ClusterState.newBuilder().addAllHistory(history).build());
        String t = text();
        assertThat(t).contains("metako_failovers_total{reason=\"primary_failed\"} 1.0",
                "metako_failovers_total{reason=\"aborted\"} 1.0", "metako_failovers_total{reason=\"operator\"} 1.0",
                "metako_switchovers_total{reason=\"operator\"} 1.0", "metako_rejoins_total{kind=\"rejoin\"} 1.0",
                "metako_rejoins_total{kind=\"adopted\"} 1.0",
                "metako_operation_duration_seconds_count{kind=\"failover\"} 3",
                "metako_operation_duration_seconds_bucket{kind=\"failover\",le=\"1.0\"} 2",
                "metako_operation_duration_seconds_bucket{kind=\"failover\",le=\"2.0\"} 3",
                "metako_operation_duration_seconds_count{kind=\"rejoin\"} 1");
    }

    @Test
    void theProxysStatementsErrorsAndWaits() {
        var o = metrics.proxyObserver();
        o.routed("pg-1", true, io.metako.proxy.route.StatementKind.WRITE);
        o.routed("pg-1", true, io.metako.proxy.route.StatementKind.BEGIN);
        o.routed("pg-2", false, io.metako.proxy.route.StatementKind.READ);
        o.routed("pg-2", false, io.metako.proxy.route.StatementKind.READ);
        o.answered("pg-2", false, 2_000_000, false);
        o.error("pg-1", "23505");
        o.error("", "57P03");
        o.waited(1_500_000_000L, true);
        o.waited(10_000_000_000L, false);
        String t = text();
        assertThat(t).contains("metako_proxy_statements_total{kind=\"write\",node=\"pg-1\",route=\"primary\"} 1.0",
                "metako_proxy_statements_total{kind=\"read\",node=\"pg-2\",route=\"replica\"} 2.0",
                "metako_proxy_statements_total{kind=\"read\",node=\"pg-1\",route=\"primary\"} 0.0",
                "metako_proxy_statement_duration_seconds_bucket{route=\"replica\",le=\"0.0025\"} 1",
                "metako_proxy_statement_duration_seconds_count{route=\"primary\"} 0",
                "metako_proxy_errors_total{class=\"23\"} 1.0", "metako_proxy_errors_total{class=\"57\"} 1.0",
                "metako_proxy_wait_seconds_count{outcome=\"routed\"} 1", "metako_proxy_wait_seconds_count{outcome=\"gave_up\"} 1");
        assertThat(t).as("the proxy's own errors name no node").doesNotContain("node=\"\"");
        io.metako.proto.v1.ProxyStatus p = metrics.withStatements(io.metako.proto.v1.ProxyStatus.newBuilder()
                .setClientSessions(3).build());
        assertThat(p.getClientSessions()).isEqualTo(3);
        assertThat(p.getStatements()).isEqualTo(4);
        assertThat(p.getReads()).isEqualTo(2);
        assertThat(p.getWrites()).isEqualTo(1);
        assertThat(p.getFailures()).isEqualTo(2);
        assertThat(p.getNodesList()).extracting(n -> n.getNode() + " " + n.getStatements() + " " + n.getReads() + " "
                + n.getWrites() + " " + n.getFailures()).containsExactly("pg-1 2 0 1 1", "pg-2 2 2 0 0");
    }

    @Test
    void detectionIsFromTheFirstDownVerdictToTheStartAndPromotionIsTimedByTheLeader() {
        metrics.baseline(ClusterState.getDefaultInstance(), 0);
        ClusterState s = ClusterState.newBuilder()
                .addVerdicts(io.metako.proto.v1.VerdictRecord.newBuilder().setInstanceId("m1").setNode("pg-1")
                        .setVerdict(Verdict.DOWN).setSinceMillis(8_800))
                .addVerdicts(io.metako.proto.v1.VerdictRecord.newBuilder().setInstanceId("m2").setNode("pg-1")
                        .setVerdict(Verdict.DOWN).setSinceMillis(9_100))
                .addVerdicts(io.metako.proto.v1.VerdictRecord.newBuilder().setInstanceId("m1").setNode("pg-2")
                        .setVerdict(Verdict.DOWN).setSinceMillis(1_000))
                .addHistory(event(EventKind.FAILOVER, 10_000, 10_300, "pg-1 failed for 2/3 instances").toBuilder()
                        .setOldPrimary("pg-1")).build();
        metrics.onState(s);
        metrics.promoted(0.12);
        metrics.proxyObserver().clientBytes(100, 0);
        metrics.proxyObserver().clientBytes(0, 2_000);
        assertThat(text()).contains("metako_failover_phase_seconds_bucket{phase=\"detection\",le=\"1.0\"} 0",
                "metako_failover_phase_seconds_bucket{phase=\"detection\",le=\"2.0\"} 1",
                "metako_failover_phase_seconds_sum{phase=\"detection\"} 1.2",
                "metako_failover_phase_seconds_bucket{phase=\"promotion\",le=\"0.25\"} 1",
                "metako_proxy_client_bytes_total{direction=\"in\"} 100.0",
                "metako_proxy_client_bytes_total{direction=\"out\"} 2000.0");
    }

    @Test
    void probesAndVerdicts() {
        metrics.probed("pg-1", 0.003, true);
        metrics.probed("pg-1", 0.3, false);
        metrics.verdictChanged("pg-1", Verdict.DOWN);
        metrics.verdictChanged("pg-1", Verdict.UP);
        metrics.verdictChanged("pg-1", Verdict.DOWN);
        assertThat(text()).contains("metako_probe_duration_seconds_count{node=\"pg-1\",result=\"ok\"} 1",
                "metako_probe_duration_seconds_bucket{node=\"pg-1\",result=\"failed\",le=\"0.25\"} 0",
                "metako_probe_duration_seconds_bucket{node=\"pg-1\",result=\"failed\",le=\"0.5\"} 1",
                "metako_verdict_changes_total{node=\"pg-1\",verdict=\"down\"} 2.0",
                "metako_verdict_changes_total{node=\"pg-1\",verdict=\"up\"} 1.0");
    }
}

package io.metako.server.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.ProxyStatus;
import org.junit.jupiter.api.Test;

class StatusReportTest {
    private static NodeStatus node(String name, NodeRole role, MajorityHealth health, NodeObservation o) {
        return NodeStatus.newBuilder().setNode(Node.newBuilder().setName(name).setRole(role)).setHealth(health)
                .setObservation(o).build();
    }

    @Test
    void theMessageSaysWhatIsWrongAndTheFieldsCarryEachNode() {
        ClusterStatus s = ClusterStatus.newBuilder().setPrimary("pg-2").setEpoch(4).setLeaderId("metako-1")
                .setHoldsLease(true).setControllerSentence("no action: pg-2 is primary at epoch 4")
                .addNodes(node("pg-1", NodeRole.QUARANTINED, MajorityHealth.FAILED, NodeObservation.getDefaultInstance()))
                .addNodes(node("pg-2", NodeRole.PRIMARY, MajorityHealth.HEALTHY, NodeObservation.newBuilder()
                        .setReachable(true).setTimeline(3).build()))
                .addNodes(node("pg-3", NodeRole.REPLICA, MajorityHealth.HEALTHY, NodeObservation.newBuilder()
                        .setReachable(true).setInRecovery(true).setLagBytes(512).setTimeline(3).build()))
                .setProxy(ProxyStatus.newBuilder().setClientSessions(5).setStatements(120).setReads(100).setWrites(15)
                        .setFailures(2)).build();
        StatusReport.Line line = StatusReport.of(s);
        assertThat(line.message()).isEqualTo("status: primary pg-2, epoch 4, 2/3 nodes healthy, pg-1 failed, leader"
                + " metako-1, 5 client sessions, 120 statements (100 reads, 15 writes, 2 failed)");
        assertThat(line.fields().get("proxy").toString()).isEqualTo("{\"client_sessions\":5,\"statements\":120,"
                + "\"reads\":100,\"writes\":15,\"failures\":2}");
        assertThat(line.fields()).containsEntry("primary", "pg-2").containsEntry("holds_lease", true)
                .containsEntry("nodes_healthy", 2L).containsEntry("report", "status");
        assertThat(line.fields().get("nodes").toString()).isEqualTo("{\"pg-1\":{\"role\":\"quarantined\",\"health\":"
                + "\"failed\"},\"pg-2\":{\"role\":\"primary\",\"health\":\"healthy\",\"timeline\":3},\"pg-3\":{\"role\":"
                + "\"replica\",\"health\":\"healthy\",\"lag_bytes\":512,\"lag_seconds\":0.000,\"timeline\":3}}");
    }

    @Test
    void noPrimaryNoLeaseAndAPauseAreSaid() {
        ClusterStatus s = ClusterStatus.newBuilder().setEpoch(5).setPaused(true).build();
        assertThat(StatusReport.of(s).message()).isEqualTo("status: no primary, epoch 5, 0/0 nodes healthy, leader none,"
                + " NO write lease here, failover PAUSED");
    }
}

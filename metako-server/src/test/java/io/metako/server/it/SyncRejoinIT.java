package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import java.io.IOException;
import java.sql.Connection;
import java.sql.Statement;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * Heal in synchronous mode, under a write load: a killed primary fails over, comes back as a replica on its own,
 * re-enters the synchronous set, and after a second failover the rejoined node can take over; every acknowledged
 * write is on the final primary.
 */
class SyncRejoinIT extends QuorumScenario {
    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s", "sync", true, (i, config) -> { });
    }

    @Test
    @Order(1)
    void twoFailoversInARowEndWithThreeHealthyNodesAndNoAcknowledgedWriteLost() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(0).getNodesList())
                .extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY));
        try (Connection c = q.connect(0); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE acked (id int primary key)");
        }
        AckedWriter writer = new AckedWriter(q, "acked");
        Thread t = writer.start();
        try {
            await().atMost(CONVERGE).until(() -> writer.acked.size() > 200);
            // SIGKILL of the postmaster alone: its children exit on their own, and the rejoin waits for them
            q.cluster.nodes().get(0).postmaster().orElseThrow().destroyForcibly();
            String first = awaitPrimaryOtherThan("pg-1", 2);

            // pg-1 rejoins and is one of the synchronous standbys again: the log first, then the primary's setting
            await().atMost(CONVERGE).untilAsserted(() -> {
                ClusterStatus s = q.status(0);
                assertThat(Quorum.node(s, "pg-1").getNode().getRole()).as(s.getControllerSentence()).isEqualTo(NodeRole.REPLICA);
                assertThat(s.getSynchronousStandbysList()).contains("pg-1");
                assertThat(q.synchronousStandbyNames(index(first))).contains("\"pg-1\"");
            });
            int before = writer.acked.size();
            await().atMost(CONVERGE).until(() -> writer.acked.size() > before + 100);

            q.cluster.nodes().get(index(first)).postmaster().orElseThrow().destroyForcibly();
            String second = awaitPrimaryOtherThan(first, 3);
            if (!second.equals("pg-1")) {
                // the second failover chose the other standby: the rejoined node takes over by a switchover
                awaitAllHealthy();
                try (io.metako.client.MetakoClient c = q.client(0)) {
                    c.switchover("pg-1");
                }
                second = awaitPrimaryOtherThan(second, 4);
            }
            assertThat(second).as("the rejoined node was promoted").isEqualTo("pg-1");
            int more = writer.acked.size();
            await().atMost(CONVERGE).until(() -> writer.acked.size() > more + 100);
        } finally {
            writer.stop.set(true);
            t.join(15_000);
        }
        awaitAllHealthy();
        Set<Integer> lost = new HashSet<>(writer.acked);
        lost.removeAll(q.ids(0, "acked"));
        System.out.println("[sync-rejoin] " + writer.acked.size() + " acknowledged writes, " + writer.failed.get()
                + " failed statements, " + lost.size() + " lost; history: " + q.instances[0].state().getHistoryList()
                .stream().map(e -> e.getKind() + " " + e.getReason()).toList());
        assertThat(lost).as("acknowledged writes missing on the final primary pg-1").isEmpty();
    }

    private void awaitAllHealthy() {
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(1);
            assertThat(s.getNodesList()).as(s.getControllerSentence()).extracting(NodeStatus::getHealth)
                    .containsOnly(MajorityHealth.HEALTHY);
            assertThat(s.getNodesList()).extracting(n -> n.getNode().getRole())
                    .containsExactlyInAnyOrder(NodeRole.PRIMARY, NodeRole.REPLICA, NodeRole.REPLICA);
        });
    }

    private String awaitPrimaryOtherThan(String old, long epoch) {
        String[] found = {null};
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(1);
            assertThat(s.getEpoch()).isGreaterThanOrEqualTo(epoch);
            assertThat(s.getPrimary()).isNotEmpty().isNotEqualTo(old);
            found[0] = s.getPrimary();
        });
        return found[0];
    }

    private static int index(String node) {
        return Integer.parseInt(node.substring(3)) - 1;
    }

}

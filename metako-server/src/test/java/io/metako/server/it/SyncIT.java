package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import java.io.IOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** Synchronous mode on a real quorum: the set metako keeps, and no acknowledged write lost to a kill -9. */
class SyncIT extends QuorumScenario {

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s", "sync");
    }

    private String setting(int node) throws Exception {
        return q.synchronousStandbyNames(node);
    }

    private Set<Integer> ids(int node, String table) throws Exception {
        return q.ids(node, table);
    }

    @Test
    @Order(1)
    void thePrimaryWaitsForTheReplicasMetakoKeepsInTheSynchronousSet() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                assertThat(q.status(i).getSynchronousStandbysList()).containsExactly("pg-2", "pg-3");
            }
            assertThat(setting(0)).isEqualTo("ANY 1 (\"pg-2\", \"pg-3\")");
        });
        try (Connection c = q.connect(0); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1")) {
            while (rs.next()) {
                assertThat(rs.getString(2)).as(rs.getString(1)).isEqualTo("quorum");
            }
        }
    }

    @Test
    @Order(2)
    void killingThePrimaryUnderWriteLoadLosesNoAcknowledgedWrite() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(0).getNodesList())
                .extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY));
        try (Connection c = q.connect(0); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE acked (id int primary key)");
        }
        AckedWriter writer = new AckedWriter(q, "acked");
        Thread t = writer.start();
        await().atMost(CONVERGE).until(() -> writer.acked.size() > 300);
        ProcessHandle postmaster = q.cluster.nodes().get(0).postmaster().orElseThrow();
        postmaster.destroyForcibly();
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(1);
            assertThat(s.getEpoch()).isEqualTo(2);
            assertThat(s.getPrimary()).isIn("pg-2", "pg-3");
        });
        String primary = q.status(1).getPrimary();
        int before = writer.acked.size();
        await().atMost(CONVERGE).until(() -> writer.acked.size() > before + 100);
        writer.stop.set(true);
        t.join(15_000);
        q.cluster.nodes().get(0).kill();

        Set<Integer> lost = new HashSet<>(writer.acked);
        lost.removeAll(ids(Integer.parseInt(primary.substring(3)) - 1, "acked"));
        System.out.println("[sync] kill -9 under load: " + writer.acked.size() + " acknowledged writes, "
                + writer.failed.get() + " failed statements, " + lost.size() + " lost; new primary " + primary);
        assertThat(lost).as("acknowledged writes missing on the new primary").isEmpty();

        // the new primary waits for the remaining replica, and the set in the log says so
        String other = primary.equals("pg-2") ? "pg-3" : "pg-2";
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(q.status(0).getSynchronousStandbysList()).containsExactly(other);
            assertThat(setting(Integer.parseInt(primary.substring(3)) - 1)).isEqualTo("ANY 1 (\"" + other + "\")");
        });
    }

    @Test
    @Order(3)
    void aSwitchoverInSyncModeUnderLoadLosesNothingEither() throws Exception {
        String primary = q.status(0).getPrimary();
        String other = primary.equals("pg-2") ? "pg-3" : "pg-2";
        AckedWriter writer = new AckedWriter(q, "acked2");
        try (Connection c = q.connect(Integer.parseInt(primary.substring(3)) - 1); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE acked2 (id int primary key)");
        }
        Thread t = writer.start();
        await().atMost(CONVERGE).until(() -> writer.acked.size() > 200);
        try (MetakoClient c = q.client(0)) {
            assertThat(c.switchover(other).getApplied()).isTrue();
        }
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(2).getPrimary()).isEqualTo(other));
        int before = writer.acked.size();
        await().atMost(CONVERGE).until(() -> writer.acked.size() > before + 100);
        writer.stop.set(true);
        t.join(15_000);
        Set<Integer> lost = new HashSet<>(writer.acked);
        lost.removeAll(ids(Integer.parseInt(other.substring(3)) - 1, "acked2"));
        System.out.println("[sync] switchover under load: " + writer.acked.size() + " acknowledged, " + lost.size() + " lost");
        assertThat(lost).isEmpty();
    }
}

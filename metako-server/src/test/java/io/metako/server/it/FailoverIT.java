package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.TopologyEvent;
import io.metako.server.pg.LocalPostgres;
import java.io.IOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** kill -9 of the primary postmaster under a real quorum: promotion, re-pointing, quarantine. */
class FailoverIT extends QuorumScenario {
    private String newPrimary;

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s");
    }



    @Test
    @Order(1)
    void killingThePrimaryPromotesAReplicaThatTheOtherFollows() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                ClusterStatus s = q.status(i);
                assertThat(s.getPrimary()).isEqualTo("pg-1");
                assertThat(s.getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            }
        });
        try (Connection c = q.connect(0); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE drill (id int primary key, at timestamptz default now())");
            st.execute("INSERT INTO drill (id) VALUES (1)");
        }
        LocalPostgres pg1 = q.cluster.nodes().get(0);
        long killed = System.nanoTime();
        pg1.kill();

        int writable = -1;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (writable < 0 && System.nanoTime() < deadline) {
            for (int i = 1; i < 3 && writable < 0; i++) {
                if (tryWrite(i, 2)) {
                    writable = i;
                }
            }
            Thread.sleep(50);
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed);
        System.out.println("[failover] kill -9 of pg-1 to the first successful write on pg-" + (writable + 1) + ": " + millis + " ms");
        assertThat(writable).as("a replica became writable").isPositive();
        newPrimary = "pg-" + (writable + 1);

        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                ClusterStatus s = q.status(i);
                assertThat(s.getEpoch()).isEqualTo(2);
                assertThat(s.getPrimary()).isEqualTo(newPrimary);
                assertThat(Quorum.node(s, "pg-1").getNode().getRole()).isEqualTo(NodeRole.QUARANTINED);
                assertThat(Quorum.node(s, newPrimary).getNode().getRole()).isEqualTo(NodeRole.PRIMARY);
                assertThat(Quorum.node(s, newPrimary).getNode().getTimeline()).isEqualTo(2);
            }
        });
        TopologyEvent last = q.instances[0].state().getHistory(q.instances[0].state().getHistoryCount() - 1);
        assertThat(last.getKind()).isEqualTo(EventKind.FAILOVER);
        assertThat(last.getOldPrimary()).isEqualTo("pg-1");
        assertThat(last.getNewPrimary()).isEqualTo(newPrimary);
        assertThat(last.getEpoch()).isEqualTo(2);
        assertThat(last.getCandidatesList()).extracting(c -> c.getNode()).containsExactlyInAnyOrder("pg-2", "pg-3");
        assertThat(last.getReason()).contains("pg-1 failed for");

        // the other replica follows the new primary: a row written there arrives
        int other = writable == 1 ? 2 : 1;
        try (Connection c = q.connect(writable); Statement st = c.createStatement()) {
            st.execute("INSERT INTO drill (id) VALUES (3)");
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            try (Connection c = q.connect(other); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT count(*) FROM drill WHERE id = 3")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(1);
            }
        });
        // re-pointed with the password file (replication.passfile): its primary_conninfo carries no password
        try (Connection c = q.connect(other); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT current_setting('primary_conninfo')")) {
            rs.next();
            assertThat(rs.getString(1)).contains("port=" + q.cluster.nodes().get(writable).port())
                    .contains("passfile=").doesNotContain("password=").doesNotContain(q.cluster.password());
        }
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(0).getControllerSentence())
                .isEqualTo("no action: " + newPrimary + " is primary at epoch 2; pg-1 is quarantined and no instance manages it"
                        + " (instance.manages): repair it by hand, it is taken back once it streams from " + newPrimary));
    }

    @Test
    @Order(2)
    void theOldPrimaryRestartedAsIsIsFencedAndStaysQuarantined() throws Exception {
        assertThat(newPrimary).isNotNull();
        LocalPostgres pg1 = q.cluster.nodes().get(0);
        pg1.start(); // as-is: it comes up as a second primary on the old timeline
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(0);
            NodeStatus old = Quorum.node(s, "pg-1");
            assertThat(old.getNode().getRole()).isEqualTo(NodeRole.QUARANTINED);
            assertThat(old.getObservation().getReachable()).isTrue();
            assertThat(old.getObservation().getInRecovery()).as("reported as a second primary").isFalse();
            assertThat(old.getObservation().getReadOnly()).as("fenced").isTrue();
            assertThat(s.getPrimary()).isEqualTo(newPrimary);
            assertThat(s.getEpoch()).isEqualTo(2);
        });
        try (Connection c = q.connect(0); Statement st = c.createStatement()) {
            assertThatThrownBy(() -> st.execute("INSERT INTO drill (id) VALUES (99)"))
                    .isInstanceOf(SQLException.class).hasMessageContaining("read-only transaction");
        }
        // an application_name is the client's to choose, so it exempts nothing: a session calling itself
        // metako's probe lifts the fence, and the next fence ends it like any other
        java.util.Properties spoofed = new java.util.Properties();
        spoofed.setProperty("user", io.metako.server.demo.LocalCluster.SUPERUSER);
        spoofed.setProperty("password", q.cluster.password());
        spoofed.setProperty("ApplicationName", "pg-metako probe");
        try (Connection c = java.sql.DriverManager.getConnection(q.cluster.jdbcUrl(pg1), spoofed);
             Statement st = c.createStatement()) {
            st.execute("ALTER SYSTEM RESET default_transaction_read_only");
            st.execute("SELECT pg_reload_conf()");
            await().atMost(CONVERGE).untilAsserted(() -> assertThatThrownBy(() -> st.execute("SELECT 1"))
                    .as("ended by the fence").isInstanceOf(SQLException.class));
        }
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(Quorum.node(q.status(0), "pg-1").getObservation().getReadOnly())
                .as("fenced again").isTrue());
        // nothing else changed: no new failover, the replica still follows the new primary
        assertThat(q.instances[1].state().getHistoryList().stream().filter(e -> e.getKind() == EventKind.FAILOVER))
                .hasSize(1);
    }

    @Test
    @Order(3)
    void historyRecordsTheFailoverThroughMetakoctl() {
        java.io.StringWriter out = new java.io.StringWriter();
        picocli.CommandLine cl = io.metako.client.cli.Metakoctl.commandLine(java.util.Map.of(
                "METAKO_ENDPOINTS", q.cluster.instances().get(2).grpc(), "METAKO_TOKEN", q.cluster.token()));
        cl.setOut(new java.io.PrintWriter(out, true));
        assertThat(cl.execute("history")).isZero();
        assertThat(out.toString()).contains("BOOTSTRAPPED").contains("FAILOVER").contains("pg-1").contains(newPrimary)
                .contains("pg-1 failed for").contains("FENCE")
                .as("pg-1 was killed: nothing could fence it, and the history says so").contains("not confirmed: pg-1 was unreachable");
    }

    @Test
    @Order(4)
    void aPausedClusterDoesNotFailOverAndANewLeaderFinishesWhatTheOldOneStarted() throws Exception {
        int primary = Integer.parseInt(newPrimary.substring(3)) - 1;
        String survivor = primary == 1 ? "pg-3" : "pg-2";
        try (MetakoClient c = q.client(0)) {
            assertThat(c.pause("drill").getApplied()).isTrue();
        }
        await().atMost(CONVERGE).until(() -> q.status(1).getPaused());
        q.cluster.nodes().get(primary).kill();
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(2).getControllerSentence())
                .startsWith("paused: " + newPrimary + " failed for"));
        Thread.sleep(3 * 1500); // three times the detection time (3 probes of 500 ms)
        for (int i = 0; i < 3; i++) {
            ClusterStatus s = q.status(i);
            assertThat(s.getEpoch()).as("no failover while paused").isEqualTo(2);
            assertThat(s.getPrimary()).isEqualTo(newPrimary);
        }

        // the leader dies right after FailoverStarted: every controller refuses to promote until then
        for (var instance : q.instances) {
            instance.controller().setActionGate(a -> !(a instanceof io.metako.server.control.ControllerAction.Promote));
        }
        try (MetakoClient c = q.client(1)) {
            assertThat(c.resume().getApplied()).isTrue();
        }
        await().atMost(CONVERGE).until(() -> q.instances[0].state().hasOperation()
                && q.instances[0].state().getOperation().getAckedInstancesCount() == 3);
        assertThat(q.instances[0].state().getEpoch()).isEqualTo(3);
        int leader = q.leaderIndex();
        q.stopInstance(leader);
        for (var instance : q.instances) {
            if (instance != null) {
                instance.controller().setActionGate(a -> true);
            }
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                if (i == leader) {
                    continue;
                }
                ClusterStatus s = q.status(i);
                assertThat(s.getEpoch()).isEqualTo(3);
                assertThat(s.getPrimary()).isEqualTo(survivor);
                assertThat(s.getLeaderId()).isNotEqualTo("metako-" + (leader + 1));
                assertThat(Quorum.node(s, newPrimary).getNode().getRole()).isEqualTo(NodeRole.QUARANTINED);
            }
        });
        assertThat(tryWrite(Integer.parseInt(survivor.substring(3)) - 1, 42)).isTrue();
        q.startInstance(leader);
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(leader).getPrimary()).isEqualTo(survivor));
    }

    @Test
    @Order(5)
    void aQuarantinedNodeAnOperatorRepairedByHandIsAdoptedOnceItStreamsFromThePrimary() throws Exception {
        // no instance manages these nodes: pg-1 (fenced, still on its old timeline) waits for an operator
        String primary = q.status(0).getPrimary();
        int p = Integer.parseInt(primary.substring(3)) - 1;
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(0).getControllerSentence())
                .contains("pg-1 is quarantined and no instance manages it (instance.manages): repair it by hand"));
        // the operator: stop it, rewind it from the primary (after a checkpoint there), start it as a standby
        try (Connection c = q.connect(p); Statement st = c.createStatement()) {
            st.execute("CHECKPOINT");
        }
        LocalPostgres pg1 = q.cluster.nodes().get(0);
        pg1.stop(LocalPostgres.StopMode.FAST);
        pg1.rewind("127.0.0.1", q.cluster.nodes().get(p).port(), io.metako.server.demo.LocalCluster.SUPERUSER,
                q.cluster.replicationPassfile());
        pg1.start();
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(1);
            assertThat(Quorum.node(s, "pg-1").getNode().getRole()).as(s.getControllerSentence()).isEqualTo(NodeRole.REPLICA);
        });
        var seen = q.instances[1].state(); // the instance whose status said REPLICA: it has applied the adoption
        TopologyEvent adopted = seen.getHistory(seen.getHistoryCount() - 1);
        assertThat(adopted.getKind()).isEqualTo(EventKind.ADOPTED);
        assertThat(adopted.getNode()).isEqualTo("pg-1");
        assertThat(adopted.getReason()).isEqualTo("pg-1 streams from " + primary + " on its timeline: taken back as a replica");
        assertThat(tryWrite(p, 43)).isTrue();
        await().atMost(CONVERGE).untilAsserted(() -> {
            try (Connection c = q.connect(0); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT count(*) FROM drill WHERE id = 43")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(1);
            }
        });
    }

    private boolean tryWrite(int node, int id) {
        try (Connection c = q.connect(node); Statement st = c.createStatement()) {
            st.execute("INSERT INTO drill (id) VALUES (" + id + ")");
            return true;
        } catch (SQLException e) {
            return false;
        }
    }
}

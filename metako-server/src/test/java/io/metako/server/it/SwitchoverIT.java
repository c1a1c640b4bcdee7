package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.metako.client.MetakoClient;
import io.metako.client.MetakoClientException;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.proxy.net.ProxyEventLoops;
import io.metako.proxy.routing.RoutingTable;
import io.metako.proxy.session.StatementRouter;
import io.metako.server.routing.ProxyPorts;
import java.io.IOException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** Planned switchover under a concurrent write load, and manual failover, on a real quorum. */
class SwitchoverIT extends QuorumScenario {

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s");
    }



    @Test
    @Order(1)
    void switchoverUnderWriteLoadLosesNoAcknowledgedWrite() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(0).getNodesList())
                .extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY));
        try (Connection c = q.connect(0); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE load (id int primary key)");
        }
        AckedWriter writer = new AckedWriter(q, "load");
        Thread t = writer.start();
        await().atMost(CONVERGE).until(() -> writer.acked.size() > 200);
        // A read in flight on the old primary through the proxy when the switchover starts: it runs again on
        // the new primary, and the client sees only the answer, not an error. The test's own router follows
        // instance 2's tables without their replicas, so a plain read runs on the primary (a hinted one
        // would not run twice: the hint is for functions that write).
        ProxyEventLoops ownLoops = ProxyEventLoops.create(1);
        StatementRouter own = new StatementRouter(ProxyPorts.routerSettings(q.config(1), false),
                () -> withoutReplicas(q.instances[1].routing().current()), ownLoops).start("127.0.0.1", 0);
        q.instances[1].routing().addListener(table -> own.onRoutingTable(withoutReplicas(table)));
        java.util.concurrent.CompletableFuture<Integer> readInFlight = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            java.util.Properties p = new java.util.Properties();
            p.setProperty("user", io.metako.server.demo.LocalCluster.PROXY_USER);
            p.setProperty("password", q.cluster.password());
            try (Connection c = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + own.port() + "/postgres", p);
                 Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT inet_server_port() FROM pg_sleep(4)")) {
                rs.next();
                return rs.getInt(1);
            } catch (java.sql.SQLException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        TimeUnit.MILLISECONDS.sleep(500);
        long started = System.nanoTime();
        try (MetakoClient c = q.client(2)) {
            assertThat(c.switchover("pg-2").getMessage()).contains("switchover to pg-2 accepted");
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(1);
            assertThat(s.getPrimary()).isEqualTo("pg-2");
            assertThat(s.getEpoch()).isEqualTo(2);
        });
        System.out.println("[switchover] primary pg-1 -> pg-2 in " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)
                + " ms; writes acknowledged so far " + writer.acked.size() + ", failed statements " + writer.failed.get());
        try {
            assertThat(readInFlight.get(30, TimeUnit.SECONDS)).as("the read in flight ran again on the new primary")
                    .isEqualTo(q.cluster.nodes().get(1).port());
        } finally {
            own.close();
            ownLoops.close();
        }
        int before = writer.acked.size();
        await().atMost(CONVERGE).until(() -> writer.acked.size() > before + 200);
        writer.stop.set(true);
        t.join(10_000);

        Set<Integer> present = new HashSet<>();
        try (Connection c = q.connect(1); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT id FROM load")) {
            while (rs.next()) {
                present.add(rs.getInt(1));
            }
        }
        Set<Integer> lost = new HashSet<>(writer.acked);
        lost.removeAll(present);
        assertThat(lost).as("acknowledged writes missing on the new primary").isEmpty();
        ClusterStatus s = q.status(0);
        assertThat(Quorum.node(s, "pg-1").getNode().getRole()).isEqualTo(NodeRole.QUARANTINED);
        assertThat(q.instances[0].state().getHistoryList()).last().satisfies(e -> {
            assertThat(e.getKind()).isEqualTo(EventKind.SWITCHOVER);
            assertThat(e.getNewPrimary()).isEqualTo("pg-2");
            assertThat(e.getFence()).as("the old primary was made read-only first").startsWith("confirmed");
        });
    }

    private static RoutingTable withoutReplicas(RoutingTable t) {
        return new RoutingTable(t.epoch(), t.primary(), List.of(), t.writable(), t.lease());
    }

    @Test
    @Order(2)
    void aSwitchoverStuckOnATargetThatDoesNotReplayIsAbortedAndTheOldPrimaryTakesWritesAgain() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(0).getControllerSentence())
                .startsWith("no action: pg-2 is primary at epoch 2; pg-1 is quarantined and no instance manages it"));
        try (Connection pg3 = q.connect(2); Statement st = pg3.createStatement()) {
            st.execute("SELECT pg_wal_replay_pause()");
        }
        try {
            abortAStuckSwitchover();
        } finally {
            try (Connection pg3 = q.connect(2); Statement st = pg3.createStatement()) {
                st.execute("SELECT pg_wal_replay_resume()");
            }
        }
    }

    private void abortAStuckSwitchover() throws Exception {
        try (Connection primary = q.connect(1); Statement st = primary.createStatement()) {
            st.execute("INSERT INTO load (id) VALUES (-2)"); // WAL the paused target will not replay
        }
        try (MetakoClient c = q.client(0)) {
            assertThat(c.switchover("pg-3").getApplied()).isTrue();
            await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(0).getControllerSentence())
                    .startsWith("switchover: waiting for pg-3 to replay up to"));
            assertThat(c.abort("pg-3 does not replay").getMessage()).contains("abort of the operation to pg-3");
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                ClusterStatus s = q.status(i);
                assertThat(s.getPrimary()).isEqualTo("pg-2");
                assertThat(s.getEpoch()).as("started at 3, aborted at 4").isEqualTo(4);
                assertThat(Quorum.node(s, "pg-3").getNode().getRole()).isEqualTo(NodeRole.REPLICA);
            }
        });
        assertThat(q.instances[0].state().getHistoryList()).last().satisfies(e -> {
            assertThat(e.getNewPrimary()).isEqualTo("pg-2");
            assertThat(e.getReason()).isEqualTo("aborted: asked by an operator: pg-3 does not replay");
        });
        // the fence the switchover put on pg-2 is lifted: it takes writes again
        await().atMost(CONVERGE).ignoreExceptions().untilAsserted(() -> {
            try (Connection primary = q.connect(1); Statement st = primary.createStatement()) {
                st.execute("INSERT INTO load (id) SELECT coalesce(min(id), 0) - 1 FROM load");
            }
        });
        try (MetakoClient c = q.client(1)) {
            assertThatThrownBy(() -> c.abort("")).hasMessageContaining("no failover or switchover is in progress (epoch 4, primary pg-2)");
        }
    }

    @Test
    @Order(3)
    void manualFailoverRefusesBadTargetsAndHandsOverToAGoodOneWithoutLoss() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(0).getControllerSentence())
                .startsWith("no action: pg-2 is primary at epoch 4;"));
        try (MetakoClient c = q.client(0)) {
            assertThatThrownBy(() -> c.failover("pg-1", false)).isInstanceOf(MetakoClientException.class)
                    .hasMessageContaining("INVALID_ARGUMENT").hasMessageContaining("pg-1 is QUARANTINED, not a replica");
            assertThatThrownBy(() -> c.failover("pg-7", false)).hasMessageContaining("unknown node 'pg-7'");
            assertThatThrownBy(() -> c.switchover("pg-2")).hasMessageContaining("pg-2 is PRIMARY, not a replica");
            assertThat(c.failover("pg-3", false).getApplied()).isTrue();
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                ClusterStatus s = q.status(i);
                assertThat(s.getPrimary()).isEqualTo("pg-3");
                assertThat(s.getEpoch()).isEqualTo(5);
                assertThat(Quorum.node(s, "pg-2").getNode().getRole()).isEqualTo(NodeRole.QUARANTINED);
            }
        });
        assertThat(q.instances[0].state().getHistoryList()).last().satisfies(e -> {
            assertThat(e.getKind()).as("pg-2 was healthy: no acknowledged write may be lost").isEqualTo(EventKind.SWITCHOVER);
            assertThat(e.getReason()).contains("carried out as a switchover");
        });
        try (Connection c = q.connect(2); Statement st = c.createStatement()) {
            st.execute("INSERT INTO load (id) VALUES (-1)");
        }
    }
}

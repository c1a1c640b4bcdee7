package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.TopologyEvent;
import io.metako.server.MetakoInstance;
import io.metako.server.control.ControllerAction;
import io.metako.server.demo.LocalCluster;
import io.metako.server.pg.LocalPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * Heal: each instance manages the node beside it (instance.manages), so a killed old primary comes back as a
 * replica on its own (pg_rewind, or a fresh clone when its WAL is gone), serves reads again, and can be promoted
 * by the next failover. Real PostgreSQL, a real 3-peer Raft group, pgjdbc through the proxy.
 */
class RejoinIT extends QuorumScenario {
    /** The node that is primary now, by index. */
    private int primary = 0;

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s", "async", true, (i, config) -> { });
    }

    @Test
    @Order(1)
    void aKilledPrimaryFailsOverAndRejoinsAsAReplicaOnItsOwn() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(0);
            assertThat(s.getPrimary()).isEqualTo("pg-1");
            assertThat(s.getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            for (int n = 0; n < 3; n++) {
                assertThat(Quorum.node(s, "pg-" + (n + 1)).getNode().getManagingInstance()).isEqualTo("metako-" + (n + 1));
            }
        });
        execute(0, "CREATE TABLE healed (id int primary key, note text)", "INSERT INTO healed VALUES (1, 'before')");

        long killed = System.nanoTime();
        q.cluster.nodes().get(0).kill();
        int next = awaitFailoverFrom(0, 2);
        long failedOver = System.nanoTime();
        awaitRejoined(0, 2);
        long rejoined = System.nanoTime();
        System.out.printf("[rejoin] kill -9 of pg-1: failover %d ms, old primary streaming as a replica %d ms%n",
                TimeUnit.NANOSECONDS.toMillis(failedOver - killed), TimeUnit.NANOSECONDS.toMillis(rejoined - killed));

        TopologyEvent event = lastEvent();
        assertThat(event.getKind()).isEqualTo(EventKind.REJOIN);
        assertThat(event.getNode()).isEqualTo("pg-1");
        assertThat(event.getReason()).isEqualTo("pg-1 rejoined pg-" + (next + 1) + " by pg_rewind (attempt 1)");
        assertThat(event.getTimeMillis()).isGreaterThanOrEqualTo(event.getStartedMillis());

        // a row written on the new primary reaches the old one, which streams with the password file
        execute(next, "INSERT INTO healed VALUES (2, 'after the failover')");
        awaitRow(0, "healed", 2);
        try (Connection c = q.connect(0); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery(), current_setting('primary_conninfo')")) {
            rs.next();
            assertThat(rs.getBoolean(1)).isTrue();
            assertThat(rs.getString(2)).contains("port=" + port(next)).contains("passfile=")
                    .doesNotContain("password=").doesNotContain(q.cluster.password());
        }
        assertThat(Files.exists(q.cluster.nodes().get(0).nodeDir().resolve("data.metako-rejoin")))
                .as("the rewind marker is gone once the data directory is whole").isFalse();

        // and it serves reads through the proxy again
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(readPorts(0, 12)).contains(port(0)));
    }

    @Test
    @Order(2)
    void aSecondFailoverCanPromoteTheRejoinedNodeAndEndsWithThreeHealthyNodes() throws Exception {
        int old = primary;
        execute(old, "INSERT INTO healed VALUES (3, 'before the second failover')");
        awaitRow(0, "healed", 3);
        // make the old primary's own WAL useless for pg_rewind: the rejoin must fall back to a fresh clone
        LocalPostgres victim = q.cluster.nodes().get(old);
        victim.kill();
        try (Stream<Path> wal = Files.list(victim.dataDir().resolve("pg_wal"))) {
            for (Path f : wal.filter(p -> p.getFileName().toString().matches("[0-9A-F]{24}")).toList()) {
                Files.delete(f);
            }
        }
        int next = awaitFailoverFrom(old, 3);
        awaitRejoined(old, 3);
        TopologyEvent event = lastEvent();
        assertThat(event.getKind()).isEqualTo(EventKind.REJOIN);
        assertThat(event.getReason()).isEqualTo("pg-" + (old + 1) + " rejoined pg-" + (next + 1)
                + " by a fresh clone (attempt 1)");

        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(1);
            assertThat(s.getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            assertThat(s.getNodesList()).extracting(n -> n.getNode().getRole())
                    .containsExactlyInAnyOrder(NodeRole.PRIMARY, NodeRole.REPLICA, NodeRole.REPLICA);
        });
        execute(next, "INSERT INTO healed VALUES (4, 'after the second failover')");
        for (int n = 0; n < 3; n++) {
            awaitRow(n, "healed", 4);
        }
        try (Connection c = q.connect(next); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM healed")) {
            rs.next();
            assertThat(rs.getInt(1)).as("every row on the final primary").isEqualTo(4);
        }
    }

    @Test
    @Order(3)
    void rowsOnlyTheOldPrimaryCommittedAreGoneOnceItRejoinsTheNewTimeline() throws Exception {
        int old = primary;
        // the replicas stop receiving WAL: what the primary commits now exists nowhere else (the leader would point
        // them back at the primary at once: not until the failover)
        for (MetakoInstance i : q.instances) {
            i.controller().setActionGate(a -> !(a instanceof ControllerAction.Repoint));
        }
        for (int n = 0; n < 3; n++) {
            if (n != old) {
                execute(n, "ALTER SYSTEM SET primary_conninfo = ''", "SELECT pg_reload_conf()");
            }
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            try (Connection c = q.connect(old); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_replication")) {
                rs.next();
                assertThat(rs.getInt(1)).isZero();
            }
        });
        execute(old, "INSERT INTO healed VALUES (100, 'diverged: only the old primary has it')");
        q.cluster.nodes().get(old).kill();
        int next = awaitFailoverFrom(old, 4);
        for (MetakoInstance i : q.instances) {
            i.controller().setActionGate(a -> true);
        }
        try (Connection c = q.connect(next); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM healed WHERE id = 100")) {
            rs.next();
            assertThat(rs.getInt(1)).as("the new primary never received the row").isZero();
        }
        awaitRejoined(old, 4);
        try (Connection c = q.connect(old); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FILTER (WHERE id = 100), count(*) FROM healed")) {
            rs.next();
            assertThat(rs.getInt(1)).as("the divergent row is gone").isZero();
            assertThat(rs.getInt(2)).isEqualTo(4);
        }
        execute(next, "INSERT INTO healed VALUES (5, 'on the new timeline')");
        awaitRow(old, "healed", 5);
        assertThat(lastEvent().getReason()).isEqualTo("pg-" + (old + 1) + " rejoined pg-" + (next + 1)
                + " by pg_rewind (attempt 1)");
    }

    @Test
    @Order(4)
    void reinitRebuildsAReplicaWhoseDataDirectoryWasDamaged() throws Exception {
        int replica = (primary + 1) % 3;
        LocalPostgres damaged = q.cluster.nodes().get(replica);
        damaged.stop(LocalPostgres.StopMode.FAST);
        Files.delete(damaged.dataDir().resolve("global").resolve("pg_control"));
        String name = "pg-" + (replica + 1);
        try (io.metako.client.MetakoClient c = q.client(primary)) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.reinit("pg-" + (primary + 1)))
                    .hasMessageContaining("is the primary: it cannot be cloned from itself");
            assertThat(c.reinit(name).getMessage()).startsWith("reinit (a fresh clone) of " + name);
        }
        awaitRejoined(replica, 4);
        assertThat(lastEvent().getReason()).isEqualTo(name + " rebuilt from pg-" + (primary + 1)
                + " by a fresh clone (attempt 1)");
        execute(primary, "INSERT INTO healed VALUES (6, 'after the reinit')");
        awaitRow(replica, "healed", 6);
    }

    @Test
    @Order(5)
    void anInstanceStoppedInTheMiddleOfARejoinResumesItWhenItIsBack() throws Exception {
        int old = primary;
        String name = "pg-" + (old + 1);
        q.cluster.nodes().get(old).kill();
        awaitFailoverFrom(old, 5);
        // the node's managing instance goes away as soon as the log shows its rejoin running
        await().atMost(CONVERGE).pollInterval(java.time.Duration.ofMillis(20)).untilAsserted(() -> {
            var node = q.instances[(old + 1) % 3].state().getNodesList().stream()
                    .filter(n -> n.getName().equals(name)).findFirst().orElseThrow();
            assertThat(node.getRejoin().getEpoch()).isEqualTo(5);
        });
        q.stopInstance(old);
        // (a fast rewind may finish before the stop lands: RejoinKillIT holds one still to be sure of the middle)
        q.startInstance(old);
        awaitRejoined(old, 5);
        assertThat(Files.exists(q.cluster.nodes().get(old).nodeDir().resolve("data.metako-rejoin"))).isFalse();
        execute(primary, "INSERT INTO healed VALUES (7, 'after the resumed rejoin')");
        awaitRow(old, "healed", 7);
    }

    @Test
    @Order(6)
    void aDataDirectoryAnEarlierRewindLeftHalfWrittenIsClonedNeverRewoundOrStarted() throws Exception {
        int old = primary;
        LocalPostgres pg = q.cluster.nodes().get(old);
        // as if a rewind had died half-way in an earlier life: the marker beside the data directory says so (written
        // first: the rejoin may start before kill() has seen every process of the old server reaped)
        Path marker = pg.nodeDir().resolve("data.metako-rejoin");
        Files.writeString(marker, "rejoin of pg-" + (old + 1) + " (attempt 1), interrupted\n");
        pg.kill();
        int next = awaitFailoverFrom(old, 6);
        awaitRejoined(old, 6);
        assertThat(lastEvent().getReason()).isEqualTo("pg-" + (old + 1) + " rejoined pg-" + (next + 1)
                + " by a fresh clone (attempt 1)");
        assertThat(Files.exists(marker)).isFalse();
        execute(next, "INSERT INTO healed VALUES (8, 'after a clone instead of a rewind')");
        awaitRow(old, "healed", 8);
    }

    /** Waits until another node is primary at {@code epoch}; returns its index. */
    private int awaitFailoverFrom(int old, long epoch) {
        int[] found = {-1};
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status((old + 1) % 3);
            assertThat(s.getEpoch()).isEqualTo(epoch);
            assertThat(s.getPrimary()).isNotEmpty().isNotEqualTo("pg-" + (old + 1));
            found[0] = Integer.parseInt(s.getPrimary().substring(3)) - 1;
        });
        primary = found[0];
        return found[0];
    }

    /** Waits until node {@code n} is a replica again at {@code epoch}, streaming, healthy. */
    private void awaitRejoined(int n, long epoch) {
        try {
            awaitRejoinedOrThrow(n, epoch);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            System.out.println("[rejoin] pg-" + (n + 1) + " as instance 1 sees it: "
                    + Quorum.node(q.status(0), "pg-" + (n + 1)) + "\n--- its server log ---\n"
                    + q.cluster.nodes().get(n).logTail(40));
            throw e;
        }
    }

    private void awaitRejoinedOrThrow(int n, long epoch) {
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                ClusterStatus s = q.status(i);
                assertThat(s.getEpoch()).isEqualTo(epoch);
                NodeStatus node = Quorum.node(s, "pg-" + (n + 1));
                assertThat(node.getNode().getRole()).as(s.getControllerSentence()).isEqualTo(NodeRole.REPLICA);
                assertThat(node.getNode().hasRejoin()).isFalse();
            }
        });
    }

    private TopologyEvent lastEvent() {
        ClusterState s = q.instances[0].state();
        return s.getHistory(s.getHistoryCount() - 1);
    }


    private int port(int node) {
        return q.cluster.nodes().get(node).port();
    }

    /** The node ports that {@code count} new sessions on instance {@code i}'s ro_port landed on. */
    private Set<Integer> readPorts(int i, int count) throws SQLException {
        Set<Integer> ports = new HashSet<>();
        int ro = q.cluster.instances().get(i).roPort();
        for (int k = 0; k < count; k++) {
            try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + ro
                    + "/postgres?connectTimeout=5&socketTimeout=10", LocalCluster.SUPERUSER, q.cluster.password());
                 Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT inet_server_port()")) {
                rs.next();
                ports.add(rs.getInt(1));
            }
        }
        return ports;
    }
}

package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.TopologyEvent;
import io.metako.server.demo.FreePorts;
import io.metako.server.demo.LocalCluster;
import io.metako.server.pg.LocalPostgres;
import io.metako.server.pg.OsCommand;
import io.metako.server.pg.PgBinaries;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * {@code metakoctl node add / remove} on three real instances, with writes going on through a statement router: a
 * fourth PostgreSQL node, cloned from the primary with pg_basebackup and streaming, is added and taken in as a
 * replica that serves reads through every router; then it is removed, and no router sends it anything. The primary
 * cannot be removed. No acknowledged write is lost meanwhile.
 */
class NodeIT extends QuorumScenario {
    private LocalPostgres pg4;
    private LocalPostgres pg5;
    private RouterWriter writer;

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "30s");
    }

    @AfterAll
    void stopAddedNodes() throws IOException, InterruptedException {
        if (writer != null) {
            writer.stop();
        }
        for (LocalPostgres n : java.util.Arrays.asList(pg4, pg5)) {
            if (n != null) {
                n.stop(LocalPostgres.StopMode.FAST);
                n.kill();
            }
        }
    }

    /** Every instance's file gets {@code n}'s credentials, and is reloaded. */
    private void giveCredentials(LocalPostgres n) throws IOException {
        for (int i = 0; i < 3; i++) {
            Path file = q.cluster.dir().resolve("metako-" + (i + 1) + ".yaml");
            String yaml = Files.readString(file);
            String nodes = "nodes:\n";
            assertThat(yaml).contains(nodes);
            Files.writeString(file, yaml.replace(nodes, nodes + "  - name: " + n.name() + "\n    host: 127.0.0.1\n    port: "
                    + n.port() + "\n    username: " + LocalCluster.SUPERUSER + "\n    password_file: '"
                    + q.cluster.dir().resolve("pg-password") + "'\n    database: postgres\n"));
            // before the add they are drift: in the file, not in the cluster
            assertThat(metakoctl(0, i, "reload")).contains("drift (not applied): nodes." + n.name()
                    + ": in this instance's file, not in the cluster");
        }
    }

    private String metakoctl(int expectedCode, int instance, String... args) {
        StringWriter out = new StringWriter();
        List<String> all = new ArrayList<>(List.of("--endpoints", q.cluster.instances().get(instance).grpc()));
        all.addAll(List.of(args));
        int code = io.metako.client.cli.Metakoctl.commandLine(Map.of("METAKO_TOKEN", q.cluster.token(), "USER", "ops"))
                .setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute(all.toArray(String[]::new));
        assertThat(code).as(out.toString()).isEqualTo(expectedCode);
        return out.toString();
    }

    private Connection router(int instance) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + q.cluster.instances().get(instance).proxyPort()
                + "/postgres?connectTimeout=5", LocalCluster.PROXY_USER, q.cluster.password());
    }

    /** The ports twelve short sessions through {@code instance}'s router read from. */
    private Set<Integer> readPorts(int instance) throws SQLException {
        Set<Integer> ports = new HashSet<>();
        for (int i = 0; i < 12; i++) {
            try (Connection c = router(instance); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT inet_server_port()")) {
                rs.next();
                ports.add(rs.getInt(1));
            }
        }
        return ports;
    }

    private void startWriter() throws SQLException {
        try (Connection c = router(0); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE node_it (id int primary key)");
        }
        writer = new RouterWriter(() -> router(0), "node_it").start();
    }

    @Test
    @Order(1)
    void aClonedStreamingReplicaIsAddedAndServesReadsThroughEveryRouter() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY));
        startWriter();
        LocalPostgres primary = q.cluster.nodes().get(0);
        pg4 = new LocalPostgres(PgBinaries.locate(System.getenv()), new OsCommand("postgres"), "pg-4",
                q.cluster.dir().resolve("pg-4"), "127.0.0.1", FreePorts.take(1).get(0));
        pg4.initReplica("127.0.0.1", primary.port(), LocalCluster.SUPERUSER, q.cluster.password(),
                q.cluster.replicationPassfile());
        pg4.start();
        giveCredentials(pg4);
        assertThat(metakoctl(2, 0, "node", "add", "pg-4", "nowhere")).contains("is not HOST:PORT");
        assertThat(metakoctl(0, 1, "node", "add", "pg-4", "127.0.0.1:" + pg4.port()))
                .contains("node add of pg-4", "accepted at log index");
        assertThat(metakoctl(5, 1, "node", "add", "pg-4", "127.0.0.1:" + pg4.port())).contains("there is a node pg-4 already");
        await().atMost(CONVERGE).untilAsserted(() -> {
            NodeStatus n = Quorum.node(q.status(2), "pg-4");
            assertThat(n.getNode().getRole()).isEqualTo(NodeRole.REPLICA);
            assertThat(n.getHealth()).isEqualTo(MajorityHealth.HEALTHY);
        });
        try (var c = q.client(0)) {
            assertThat(c.history().getEventsList()).extracting(TopologyEvent::getKind)
                    .contains(EventKind.NODE_ADDED, EventKind.ADOPTED);
        }
        for (int i = 0; i < 3; i++) {
            assertThat(q.status(i).getConfigDriftList()).as("metako-%d's file agrees now", i + 1).isEmpty();
            int instance = i;
            await().atMost(CONVERGE).untilAsserted(() ->
                    assertThat(readPorts(instance)).as("reads through metako-%d's router", instance + 1).contains(pg4.port()));
        }
    }

    @Test
    @Order(2)
    void aNodeThatDoesNotStreamFromThePrimaryStaysQuarantinedAndGetsNothing() throws Exception {
        // a PostgreSQL server of its own, healthy and reachable, but no replica of this cluster's primary
        pg5 = new LocalPostgres(PgBinaries.locate(System.getenv()), new OsCommand("postgres"), "pg-5",
                q.cluster.dir().resolve("pg-5"), "127.0.0.1", FreePorts.take(1).get(0));
        pg5.initPrimary(LocalCluster.SUPERUSER, q.cluster.password());
        pg5.start();
        giveCredentials(pg5);
        assertThat(metakoctl(0, 0, "node", "add", "pg-5", "127.0.0.1:" + pg5.port())).contains("node add of pg-5");
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(Quorum.node(q.status(1), "pg-5").getHealth()).isEqualTo(MajorityHealth.HEALTHY));
        long until = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(4); // 8 probe intervals
        while (System.nanoTime() < until) {
            assertThat(Quorum.node(q.status(2), "pg-5").getNode().getRole()).isEqualTo(NodeRole.QUARANTINED);
            assertThat(readPorts(1)).as("reads through metako-2's router").doesNotContain(pg5.port());
        }
        assertThat(q.status(0).getControllerSentence()).contains("pg-5");
        assertThat(metakoctl(0, 0, "node", "remove", "pg-5")).contains("node remove of pg-5");
    }

    @Test
    @Order(3)
    void theRemovedNodeGetsNothingAndThePrimaryCannotBeRemoved() throws Exception {
        assertThat(metakoctl(5, 0, "node", "remove", "pg-1")).contains("pg-1 is the primary");
        assertThat(metakoctl(5, 0, "node", "remove", "pg-9")).contains("there is no node 'pg-9'");
        assertThat(metakoctl(0, 2, "node", "remove", "pg-4")).contains("node remove of pg-4");
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                assertThat(q.status(i).getNodesList()).extracting(n -> n.getNode().getName())
                        .containsExactly("pg-1", "pg-2", "pg-3");
            }
        });
        for (int i = 0; i < 3; i++) {
            assertThat(readPorts(i)).as("reads through metako-%d's router after the removal", i + 1)
                    .doesNotContain(pg4.port());
        }
        assertThat(writer.stop()).as("writer stopped").isTrue();
        Set<Integer> acked = writer.acked;
        Set<Integer> lost = new HashSet<>(acked);
        lost.removeAll(q.ids(0, "node_it"));
        System.out.println("[node] " + acked.size() + " writes acknowledged through the router while pg-4 came and went, "
                + lost.size() + " lost");
        assertThat(acked).hasSizeGreaterThan(100);
        assertThat(lost).isEmpty();
    }
}

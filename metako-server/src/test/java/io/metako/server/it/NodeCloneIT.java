package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.TopologyEvent;
import io.metako.server.demo.LocalCluster;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * {@code metakoctl node add --clone} with a managing instance, on real instances that manage the nodes beside them,
 * while a client writes through a statement router: a replica is removed from the topology and added back with
 * {@code --clone}; the instance that manages it registers, the leader has it cloned afresh with pg_basebackup (the
 * rejoin machinery), and it comes back as a replica serving reads. No acknowledged write is lost.
 */
class NodeCloneIT extends QuorumScenario {

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "30s", "async", true, (i, config) -> { });
    }

    private String metakoctl(int expectedCode, String... args) {
        StringWriter out = new StringWriter();
        List<String> all = new ArrayList<>(List.of("--endpoints", q.cluster.instances().get(0).grpc()));
        all.addAll(List.of(args));
        int code = io.metako.client.cli.Metakoctl.commandLine(Map.of("METAKO_TOKEN", q.cluster.token(), "USER", "ops"))
                .setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute(all.toArray(String[]::new));
        assertThat(code).as(out.toString()).isEqualTo(expectedCode);
        return out.toString();
    }

    private Connection router() throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + q.cluster.instances().get(1).proxyPort()
                + "/postgres?connectTimeout=5", LocalCluster.PROXY_USER, q.cluster.password());
    }

    @Test
    @Order(1)
    void aReplicaAddedWithCloneIsClonedByItsManagingInstanceAndServesAgain() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY));
        try (Connection c = router(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE clone_it (id int primary key)");
        }
        RouterWriter writer = new RouterWriter(this::router, "clone_it").start();
        int port = q.cluster.nodes().get(2).port();
        long before;
        try (Connection c = q.connect(2); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_postmaster_start_time()")) {
            rs.next();
            before = rs.getTimestamp(1).getTime();
        }
        assertThat(metakoctl(0, "node", "remove", "pg-3")).contains("node remove of pg-3");
        assertThat(metakoctl(0, "node", "add", "pg-3", "127.0.0.1:" + port, "--clone")).contains("node add of pg-3");
        await().atMost(Duration.ofSeconds(90)).untilAsserted(() -> {
            NodeStatus n = Quorum.node(q.status(0), "pg-3");
            assertThat(n.getNode().getRole()).isEqualTo(NodeRole.REPLICA);
            assertThat(n.getHealth()).isEqualTo(MajorityHealth.HEALTHY);
        });
        List<TopologyEvent> history;
        try (var c = q.client(2)) {
            history = c.history().getEventsList();
        }
        assertThat(history).extracting(TopologyEvent::getKind).containsSubsequence(EventKind.NODE_REMOVED,
                EventKind.NODE_ADDED, EventKind.REJOIN);
        assertThat(history.get(history.size() - 1).getReason()).as("cloned, not adopted")
                .contains("pg-3 rejoined pg-1 by a fresh clone");
        try (Connection c = q.connect(2); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_postmaster_start_time(), pg_is_in_recovery()")) {
            rs.next();
            assertThat(rs.getTimestamp(1).getTime()).as("a new postmaster on the clone").isGreaterThan(before);
            assertThat(rs.getBoolean(2)).isTrue();
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            Set<Integer> ports = new HashSet<>();
            for (int i = 0; i < 8; i++) {
                try (Connection c = router(); Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT inet_server_port()")) {
                    rs.next();
                    ports.add(rs.getInt(1));
                }
            }
            assertThat(ports).as("reads reach the clone").contains(port);
        });
        assertThat(writer.stop()).as("writer stopped").isTrue();
        Set<Integer> acked = writer.acked;
        Set<Integer> lost = new HashSet<>(acked);
        lost.removeAll(q.ids(0, "clone_it"));
        System.out.println("[node] " + acked.size() + " writes acknowledged while pg-3 was cloned again, " + lost.size() + " lost");
        assertThat(acked).hasSizeGreaterThan(100);
        assertThat(lost).isEmpty();
    }
}

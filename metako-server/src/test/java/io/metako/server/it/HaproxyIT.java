package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.server.demo.FreePorts;
import io.metako.server.demo.LocalCluster;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * A real HAProxy, configured by {@code deploy/haproxy.cfg} (its addresses swapped for the test's), checks the three
 * instances' {@code /primary} and {@code /replica} over HTTP and forwards to their {@code rw_port} / {@code ro_port}.
 * A client writing through HAProxy keeps writing after a {@code kill -9} failover with no change to HAProxy, and
 * an instance that stops drops out of HAProxy's rotation and comes back.
 */
class HaproxyIT extends QuorumScenario {
    private static final Path EXAMPLE = Path.of("..", "deploy", "haproxy.cfg");
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    private ExternalTool haproxy;
    private int statsPort;
    private int writePort;
    private int readPort;

    @Override
    Quorum startQuorum() throws IOException {
        return ExternalTool.quorumWith(() -> Quorum.start("500ms", "2s"), q -> startHaproxy(q.cluster));
    }

    /** deploy/haproxy.cfg with the test's ports; fails if the example no longer has the lines it swaps. */
    private void startHaproxy(LocalCluster cluster) throws IOException {
        List<Integer> ports = FreePorts.take(3);
        statsPort = ports.get(0);
        writePort = ports.get(1);
        readPort = ports.get(2);
        String cfg = Files.readString(EXAMPLE);
        Map<String, String> binds = Map.of("bind *:7000", "bind 127.0.0.1:" + statsPort,
                "bind *:5000", "bind 127.0.0.1:" + writePort, "bind *:5001", "bind 127.0.0.1:" + readPort);
        for (Map.Entry<String, String> b : binds.entrySet()) {
            assertThat(cfg).as("deploy/haproxy.cfg").contains(b.getKey());
            cfg = cfg.replace(b.getKey(), b.getValue());
        }
        Matcher m = Pattern.compile("server metako-(\\d) 10\\.0\\.0\\.1\\d:(6433|6434) check port 7201").matcher(cfg);
        StringBuilder out = new StringBuilder();
        int servers = 0;
        while (m.find()) {
            LocalCluster.InstanceSpec spec = cluster.instances().get(Integer.parseInt(m.group(1)) - 1);
            int target = m.group(2).equals("6433") ? spec.rwPort() : spec.roPort();
            m.appendReplacement(out, "server metako-" + m.group(1) + " 127.0.0.1:" + target + " check port " + spec.httpPort());
            servers++;
        }
        m.appendTail(out);
        assertThat(servers).as("server lines in deploy/haproxy.cfg").isEqualTo(6);
        haproxy = new ExternalTool("haproxy");
        haproxy.start(List.of("haproxy", "-f", haproxy.write("haproxy.cfg", out.toString()).toString(), "-db"));
    }

    @AfterAll
    void stopHaproxy() throws Exception {
        if (haproxy != null) {
            System.out.println("[haproxy] log:\n" + haproxy.log());
            haproxy.close();
        }
    }

    /** HAProxy's view: proxy/server -> status (UP, DOWN, ...), from its stats page as CSV. */
    private Map<String, String> haproxyStatus() throws Exception {
        String csv = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + statsPort + "/;csv"))
                .timeout(Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.ofString()).body();
        Map<String, String> status = new HashMap<>();
        for (String line : csv.lines().toList()) {
            String[] f = line.split(",", -1);
            if (f.length > 17 && f[1].startsWith("metako-")) {
                status.put(f[0] + "/" + f[1], f[17]);
            }
        }
        return status;
    }

    private Connection connect(int port) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?connectTimeout=5",
                LocalCluster.SUPERUSER, q.cluster.password());
    }

    @Test
    @Order(1)
    void writesThroughHaproxyFollowAKillNineFailoverWithNoChangeToHaproxy() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            assertThat(haproxyStatus()).as("HAProxy's checks of /primary and /replica").hasSize(6).allSatisfy((k, v) ->
                    assertThat(v).as(k).isEqualTo("UP"));
        });
        try (Connection c = connect(writePort); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE via_haproxy (id int primary key)");
        }
        // reads through HAProxy's read port land on a replica
        await().atMost(CONVERGE).untilAsserted(() -> {
            try (Connection c = connect(readPort); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
                rs.next();
                assertThat(rs.getBoolean(1)).isTrue();
            }
        });

        RouterWriter writer = new RouterWriter(() -> connect(writePort), "via_haproxy").start();
        try {
            await().atMost(CONVERGE).until(() -> writer.acked.size() > 100);
            q.cluster.nodes().get(0).kill();
            await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(1).getPrimary()).isNotEmpty().isNotEqualTo("pg-1"));
            int afterFailover = writer.lastAcked;
            await().atMost(CONVERGE).until(() -> writer.lastAcked > afterFailover + 100);
            // stop writing before reading the new primary: an id acknowledged after the SELECT is not a lost write
            assertThat(writer.stop()).as("writer stopped").isTrue();
            String primary = q.status(1).getPrimary();
            Set<Integer> onPrimary = q.ids(Integer.parseInt(primary.substring(3)) - 1, "via_haproxy");
            List<Integer> sinceFailover = writer.acked.stream().filter(id -> id > afterFailover).toList();
            assertThat(onPrimary).as("writes acknowledged through HAProxy after the failover, on %s", primary)
                    .containsAll(sinceFailover);
            System.out.println("[haproxy] " + writer.acked.size() + " writes acknowledged through HAProxy, "
                    + writer.failures.get() + " reconnections; new primary " + primary);
        } finally {
            writer.stop();
        }
    }

    @Test
    @Order(2)
    void anInstanceThatStopsLeavesHaproxysRotationAndComesBack() throws Exception {
        q.stopInstance(2);
        await().atMost(CONVERGE).untilAsserted(() -> {
            Map<String, String> s = haproxyStatus();
            assertThat(s.get("postgres_write/metako-3")).startsWith("DOWN");
            assertThat(s.get("postgres_write/metako-1")).isEqualTo("UP");
            assertThat(s.get("postgres_write/metako-2")).isEqualTo("UP");
        });
        for (int i = 0; i < 20; i++) {
            try (Connection c = connect(writePort); Statement st = c.createStatement()) {
                st.execute("INSERT INTO via_haproxy (id) VALUES (" + (1_000_000 + i) + ")");
            }
        }
        q.startInstance(2);
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(haproxyStatus().get("postgres_write/metako-3")).isEqualTo("UP"));
    }
}

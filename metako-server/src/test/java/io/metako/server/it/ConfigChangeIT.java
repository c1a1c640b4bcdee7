package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.TopologyEvent;
import io.metako.server.demo.LocalCluster;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * {@code metakoctl config set / edit} on a running cluster of three real instances and real PostgreSQL nodes: a
 * change goes through the log and every instance acts on it (its probes, its proxies' balancing); a bad change is
 * refused with every problem and changes nothing; the history says who changed what.
 */
class ConfigChangeIT extends QuorumScenario {
    private static final Pattern PROBES = Pattern.compile(
            "^metako_probe_duration_seconds_count\\{[^}]*\\} ([0-9.E+]+)$", Pattern.MULTILINE);
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "30s");
    }

    private String metakoctl(int expectedCode, Map<String, String> env, String... args) {
        StringWriter out = new StringWriter();
        List<String> all = new ArrayList<>(List.of("--endpoints", q.cluster.instances().get(1).grpc()));
        all.addAll(List.of(args));
        Map<String, String> e = new HashMap<>(env);
        e.put("METAKO_TOKEN", q.cluster.token());
        e.put("USER", "ops");
        int code = io.metako.client.cli.Metakoctl.commandLine(e).setOut(new PrintWriter(out))
                .setErr(new PrintWriter(out)).execute(all.toArray(String[]::new));
        assertThat(code).as(out.toString()).isEqualTo(expectedCode);
        return out.toString();
    }

    private String metakoctl(int expectedCode, String... args) {
        return metakoctl(expectedCode, Map.of(), args);
    }

    /** Every probe this instance made so far (all nodes, ok or failed), from its /metrics. */
    private double probes(int instance) throws Exception {
        String text = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                        + q.cluster.instances().get(instance).httpPort() + "/metrics")).timeout(Duration.ofSeconds(3)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        double sum = 0;
        Matcher m = PROBES.matcher(text);
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum;
    }

    /** Probes per second of each instance over three seconds. */
    private double[] probeRates() throws Exception {
        double[] before = new double[3];
        for (int i = 0; i < 3; i++) {
            before[i] = probes(i);
        }
        long start = System.nanoTime();
        Thread.sleep(3000);
        double seconds = (System.nanoTime() - start) / 1e9;
        double[] rate = new double[3];
        for (int i = 0; i < 3; i++) {
            rate[i] = (probes(i) - before[i]) / seconds;
        }
        return rate;
    }

    private List<TopologyEvent> settingsEvents() {
        return history().stream().filter(e -> e.getKind() == EventKind.SETTINGS_CHANGED).toList();
    }

    private List<TopologyEvent> history() {
        try (var c = q.client(2)) {
            return c.history().getEventsList();
        }
    }

    @Test
    @Order(1)
    void aNewHealthIntervalReachesEveryInstancesProbesAtOneLogIndex() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY));
        double[] before = probeRates();
        String out = metakoctl(0, "config", "set", "health_check.interval=250ms", "health_check.timeout=250ms");
        assertThat(out).contains("health_check.interval: 500ms -> 250ms", "health_check.timeout: 500ms -> 250ms",
                "settings change (health_check.interval=250ms, health_check.timeout=250ms) accepted at log index");
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                assertThat(q.status(i).getSettings().getHealthCheck().getIntervalMillis()).as("metako-%d", i + 1)
                        .isEqualTo(250);
            }
        });
        double[] after = probeRates();
        for (int i = 0; i < 3; i++) {
            System.out.printf("[config] metako-%d probes/s: %.1f at 500ms, %.1f at 250ms%n", i + 1, before[i], after[i]);
            assertThat(before[i]).as("metako-%d probes at 500ms", i + 1).isGreaterThan(1.0);
            assertThat(after[i]).as("metako-%d probes at 250ms against %.1f/s at 500ms", i + 1, before[i])
                    .isGreaterThan(before[i] * 1.5);
        }
        assertThat(settingsEvents()).singleElement().satisfies(e -> {
            assertThat(e.getRequestedBy()).startsWith("ops@");
            assertThat(e.getInstance()).isEqualTo("metako-2");
            assertThat(e.getReason()).contains("health_check.interval 500ms -> 250ms");
        });
        assertThat(metakoctl(0, "history")).contains("SETTINGS_CHANGED", "health_check.interval 500ms -> 250ms");
        assertThat(metakoctl(0, "config", "get", "health_check.interval").strip()).isEqualTo("250ms");
    }

    @Test
    @Order(2)
    void aBadChangeIsRefusedWithEveryProblemAndChangesNothing() {
        ClusterSettings before = q.status(0).getSettings();
        int events = history().size();
        String out = metakoctl(5, "config", "set", "health_check.interval=abc", "load_balancer.algorithm=random",
                "proxy.port=7000", "failover.lease=500ms");
        assertThat(out).contains("4 problems", "health_check.interval:", "load_balancer.algorithm: must be round_robin"
                + " or least_connections, got 'random'", "proxy.port: is not a cluster-wide setting", "metakoctl reload");
        assertThat(out).contains("failover.lease: cannot be shortened on a running cluster");
        assertThat(metakoctl(2, "config", "set", "interval")).contains("'interval' is not KEY=VALUE");
        assertThat(metakoctl(0, "config", "set", "--dry-run", "failover.cooldown=45s"))
                .contains("failover.cooldown: 30s -> 45s", "dry run: nothing applied");
        assertThat(metakoctl(0, "config", "set", "health_check.interval=250ms")).contains("no change");
        for (int i = 0; i < 3; i++) {
            assertThat(q.status(i).getSettings()).isEqualTo(before);
        }
        assertThat(history()).hasSize(events);
    }

    private Connection router(int instance) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + q.cluster.instances().get(instance).proxyPort()
                + "/postgres?connectTimeout=5", LocalCluster.PROXY_USER, q.cluster.password());
    }

    private Connection readPort(int instance) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + q.cluster.instances().get(instance).roPort()
                + "/postgres?connectTimeout=5", LocalCluster.SUPERUSER, q.cluster.password());
    }

    private static int serverPort(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT inet_server_port()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private interface Opener {
        Connection open() throws SQLException;
    }

    /**
     * With one connection held on a replica, the replicas that six short connections read from, one after
     * another (each closed before the next): the held one's, and the held one's port first.
     */
    private static List<Integer> shortReadsBeside(Opener open) throws SQLException {
        List<Integer> out = new ArrayList<>();
        try (Connection held = open.open()) {
            out.add(serverPort(held));
            for (int i = 0; i < 6; i++) {
                try (Connection c = open.open()) {
                    out.add(serverPort(c));
                }
                sleep(50); // the proxy counts the closed connection out before the next one is balanced
            }
        }
        return out;
    }

    @Test
    @Order(3)
    void leastConnectedReachesEveryProxyFromTheLog() throws Exception {
        Set<Integer> replicaPorts = new HashSet<>();
        q.cluster.nodes().subList(1, 3).forEach(n -> replicaPorts.add(n.port()));
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                int instance = i;
                List<Integer> rr = shortReadsBeside(() -> router(instance));
                assertThat(rr).as("metako-%d's router", i + 1).isSubsetOf(replicaPorts);
                assertThat(rr.subList(1, rr.size())).as("round robin: the short reads use both replicas")
                        .contains(rr.get(0)).hasSameElementsAs(replicaPorts);
            }
        });
        assertThat(metakoctl(0, "config", "set", "load_balancer.algorithm=least_connected"))
                .contains("load_balancer.algorithm: round_robin -> least_connections");
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                int instance = i;
                for (Opener o : List.<Opener>of(() -> router(instance), () -> readPort(instance))) {
                    List<Integer> least = shortReadsBeside(o);
                    assertThat(least.subList(1, least.size())).as("metako-%d: least connections", instance + 1)
                            .isSubsetOf(replicaPorts).doesNotContain(least.get(0));
                }
            }
        });
    }

    @Test
    @Order(4)
    void anEditInTheEditorIsShownThenApplied() {
        String out = metakoctl(0, Map.of("EDITOR", "sed -i -e 's/failure_threshold: 3/failure_threshold: 4/'"),
                "config", "edit", "--yes");
        assertThat(out).contains("health_check.failure_threshold: 3 -> 4", "accepted at log index");
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(q.status(2).getSettings().getHealthCheck().getFailureThreshold()).isEqualTo(4));
        assertThat(metakoctl(0, Map.of("EDITOR", "true"), "config", "edit")).contains("no change");
        assertThat(metakoctl(5, Map.of("EDITOR", "sed -i -e 's/mode: async/mode: fast/'"), "config", "edit", "--yes"))
                .contains("replication.mode: must be async or sync, got 'fast'", "config edit --file");
    }
}

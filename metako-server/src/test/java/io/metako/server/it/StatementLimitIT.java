package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.server.demo.LocalCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * {@code load_balancer.read_timeout} / {@code write_timeout} through the statement router, with real PostgreSQL: a
 * statement that runs longer is cancelled on its node and the client gets 57014 naming the limit; the session, and
 * its backend, go on.
 */
class StatementLimitIT extends QuorumScenario {
    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s", "async", (i, config) -> {
            String yaml = Files.readString(config);
            String lb = "load_balancer:\n  algorithm: round_robin\n";
            assertThat(yaml).contains(lb);
            Files.writeString(config, yaml.replace(lb, lb + "  read_timeout: 1s\n  write_timeout: 2s\n"));
        });
    }

    private Connection router() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", LocalCluster.PROXY_USER);
        p.setProperty("password", q.cluster.password());
        p.setProperty("socketTimeout", "30");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + q.cluster.instances().get(0).proxyPort()
                + "/postgres", p);
    }

    private static long millisSince(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    @Test
    @Order(1)
    void aReadOverReadTimeoutIsCancelledOnItsNodeAndTheSessionGoesOn() throws Exception {
        org.awaitility.Awaitility.await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(q.status(0).getSettings().getLoadBalancer().getStatementReadTimeoutMillis()).isEqualTo(1000));
        try (Connection c = router(); Statement st = c.createStatement()) {
            org.awaitility.Awaitility.await().atMost(CONVERGE).untilAsserted(() -> {
                try (ResultSet rs = st.executeQuery("SELECT 1")) {
                    assertThat(rs.next()).isTrue();
                }
            });
            long start = System.nanoTime();
            assertThatThrownBy(() -> st.executeQuery("SELECT pg_sleep(5)")).isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("57014");
                assertThat(e.getMessage()).contains("load_balancer.read_timeout (1000 ms)");
            });
            long took = millisSince(start);
            assertThat(took).as("cancelled at the limit, not at the statement's end").isBetween(900L, 4000L);
            try (ResultSet rs = st.executeQuery("SELECT 2")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).as("the session and its backend go on").isEqualTo(2);
            }
            // and the limit holds again for the session's next statement
            long again = System.nanoTime();
            assertThatThrownBy(() -> st.executeQuery("SELECT pg_sleep(5)")).isInstanceOfSatisfying(SQLException.class,
                    e -> assertThat(e.getMessage()).contains("load_balancer.read_timeout (1000 ms)"));
            assertThat(millisSince(again)).isBetween(900L, 4000L);
            // a quick read is not touched
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_sleep(0.2)")) {
                assertThat(rs.next()).isTrue();
            }
        }
    }

    @Test
    @Order(2)
    void aWriteOverWriteTimeoutIsCancelledAndChangesNothing() throws Exception {
        try (Connection c = router(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE limited (x int)");
            long start = System.nanoTime();
            assertThatThrownBy(() -> st.execute("INSERT INTO limited SELECT 1 FROM pg_sleep(6)"))
                    .isInstanceOfSatisfying(SQLException.class, e -> {
                        assertThat(e.getSQLState()).isEqualTo("57014");
                        assertThat(e.getMessage()).contains("load_balancer.write_timeout (2000 ms)");
                    });
            assertThat(millisSince(start)).isBetween(1900L, 5000L);
            st.execute("INSERT INTO limited VALUES (2)");
            try (ResultSet rs = st.executeQuery("/* metako:primary */ SELECT string_agg(x::text, ',') FROM limited")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).as("the cancelled insert left nothing").isEqualTo("2");
            }
        }
    }

    private String metakoctl(int expectedCode, String... args) {
        java.io.StringWriter out = new java.io.StringWriter();
        java.util.List<String> all = new java.util.ArrayList<>(java.util.List.of("--endpoints",
                q.cluster.instances().get(1).grpc()));
        all.addAll(java.util.List.of(args));
        int code = io.metako.client.cli.Metakoctl.commandLine(java.util.Map.of("METAKO_TOKEN", q.cluster.token()))
                .setOut(new java.io.PrintWriter(out)).setErr(new java.io.PrintWriter(out)).execute(all.toArray(String[]::new));
        assertThat(code).as(out.toString()).isEqualTo(expectedCode);
        return out.toString();
    }

    @Test
    @Order(3)
    void metakoctlConfigShowsTheReplicatedSettings() {
        assertThat(metakoctl(0, "config", "get", "load_balancer.read_timeout").strip()).isEqualTo("1s");
        assertThat(metakoctl(0, "config", "show")).contains("load_balancer:\n  algorithm: round_robin\n  read_timeout: 1s\n"
                + "  write_timeout: 2s\n", "health_check:\n  interval: 500ms\n", "replication:\n  mode: async\n");
        assertThat(metakoctl(0, "config", "get", "-o", "json", "health_check.interval"))
                .contains("\"key\": \"health_check.interval\"", "\"value\": \"500ms\"");
        assertThat(metakoctl(2, "config", "get", "load_balancer.read_timout"))
                .contains("no cluster-wide setting 'load_balancer.read_timout'; did you mean 'load_balancer.read_timeout'?");
    }
}

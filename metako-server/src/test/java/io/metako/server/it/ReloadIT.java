package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.server.demo.LocalCluster;
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
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * {@code metakoctl reload} (what SIGHUP does; DemoIT sends a real SIGHUP to an instance process) on three real
 * instances over real PostgreSQL: a changed proxy password, admin token and node login take effect on the reloaded
 * instance only; a broken file is refused with its problems and the instance goes on as it was; a changed
 * cluster-wide key is reported as drift and not applied; a changed port is listed as needing a restart.
 */
class ReloadIT extends QuorumScenario {
    private static final String NEW_PROXY_PASSWORD = "reloaded-proxy-secret";
    private static final String NEW_TOKEN = "reloaded-admin-token-0123456789";
    private Path file;
    private String original;

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "30s");
    }

    private Path file() throws IOException {
        if (file == null) {
            file = q.cluster.dir().resolve("metako-1.yaml");
            original = Files.readString(file);
        }
        return file;
    }

    private String metakoctl(int expectedCode, String token, String... args) {
        StringWriter out = new StringWriter();
        List<String> all = new ArrayList<>(List.of("--endpoints", q.cluster.instances().get(0).grpc(), "--token", token));
        all.addAll(List.of(args));
        int code = io.metako.client.cli.Metakoctl.commandLine(Map.of()).setOut(new PrintWriter(out))
                .setErr(new PrintWriter(out)).execute(all.toArray(String[]::new));
        assertThat(code).as(out.toString()).isEqualTo(expectedCode);
        return out.toString();
    }

    private Connection router(int instance, String password) throws SQLException {
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + q.cluster.instances().get(instance).proxyPort()
                + "/postgres?connectTimeout=5", LocalCluster.PROXY_USER, password);
    }

    private static String one(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** The file with {@code from} replaced by {@code to}, checking {@code from} is there. */
    private void edit(String from, String to) throws IOException {
        String text = Files.readString(file());
        assertThat(text).contains(from);
        Files.writeString(file(), text.replace(from, to));
    }

    @Test
    @Order(1)
    void aNewProxyPasswordAdminTokenAndNodeLoginApplyOnTheReloadedInstance() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY));
        try (Connection c = q.connect(0); Statement st = c.createStatement()) {
            st.execute("CREATE ROLE metako_reloaded LOGIN SUPERUSER PASSWORD 'reloaded-node-secret'");
        }
        // the reload tries the new login on every node: the replicas must have replayed the role first (a CI run
        // once reloaded before pg-2 had, and the reload was refused, rightly)
        for (int n = 1; n < 3; n++) {
            int node = n;
            await().atMost(CONVERGE).untilAsserted(() -> {
                try (Connection c = q.connect(node); Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_roles WHERE rolname = 'metako_reloaded'")) {
                    rs.next();
                    assertThat(rs.getInt(1)).as("the role on pg-" + (node + 1)).isEqualTo(1);
                }
            });
        }
        String text = Files.readString(file());
        String proxyUser = "  users:\n    - name: " + LocalCluster.PROXY_USER + "\n      password_file: ";
        int at = text.indexOf(proxyUser);
        assertThat(at).as("the proxy user in " + file).isPositive();
        int end = text.indexOf('\n', at + proxyUser.length());
        text = text.substring(0, at) + "  users:\n    - name: " + LocalCluster.PROXY_USER + "\n      password: "
                + NEW_PROXY_PASSWORD + text.substring(end);
        text = text.replace("  auth_token_file: " , "  auth_token: " + NEW_TOKEN + "\n  #auth_token_file: ");
        text = text.replace("    username: " + LocalCluster.SUPERUSER + "\n", "    username: metako_reloaded\n")
                .replaceAll("    password_file: '[^']*pg-password'\\n", "    password: reloaded-node-secret\n");
        Files.writeString(file(), text);

        String out = metakoctl(0, q.cluster.token(), "reload");
        assertThat(out).contains("metako-1: reloaded " + file, "instance.auth_token", "proxy.users",
                "nodes.pg-1.username", "nodes.pg-2.password").doesNotContain(NEW_TOKEN, NEW_PROXY_PASSWORD,
                "reloaded-node-secret");
        // the proxy user: the old password is refused on metako-1, the new one accepted; metako-2 is unchanged
        assertThatThrownBy(() -> router(0, q.cluster.password()).close()).isInstanceOfSatisfying(SQLException.class,
                e -> assertThat(e.getSQLState()).isEqualTo("28P01"));
        try (Connection c = router(0, NEW_PROXY_PASSWORD)) {
            assertThat(one(c, "SELECT current_user")).as("the router logs in to the nodes as the reloaded user")
                    .isEqualTo("metako_reloaded");
        }
        try (Connection c = router(1, q.cluster.password())) {
            assertThat(one(c, "SELECT current_user")).isEqualTo(LocalCluster.SUPERUSER);
        }
        // the admin token
        metakoctl(4, q.cluster.token(), "status");
        assertThat(metakoctl(0, NEW_TOKEN, "status")).contains("answered by metako-1");
        // the probes log in as the new user too, and the nodes stay healthy
        await().atMost(CONVERGE).untilAsserted(() -> {
            try (Connection c = q.connect(0); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = 'metako_reloaded' AND application_name = 'pg-metako probe'")) {
                rs.next();
                assertThat(rs.getInt(1)).as("metako-1's probe of pg-1 logs in as metako_reloaded").isPositive();
            }
        });
        assertThat(q.status(2).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
    }

    @Test
    @Order(2)
    void aBrokenFileIsRefusedAndTheInstanceGoesOnAsItWas() throws Exception {
        String good = Files.readString(file());
        Files.writeString(file(), good.replace("cluster_name: demo", "cluster_name: demo\nproxy_typo: 1")
                .replace("  failover_wait: 10s", "  failover_wait: soon"));
        String out = metakoctl(5, NEW_TOKEN, "reload");
        assertThat(out).contains("refused, the running configuration stays", "proxy_typo: unknown key",
                "proxy.failover_wait:");
        Files.writeString(file(), "proxy: [");
        assertThat(metakoctl(5, NEW_TOKEN, "reload")).contains("not valid YAML");
        // a node login the nodes refuse is not taken: the probes would fail and fail over a healthy primary
        Files.writeString(file(), good.replace("    password: reloaded-node-secret\n", "    password: not-the-password\n"));
        assertThat(metakoctl(5, NEW_TOKEN, "reload")).contains("nodes.pg-1: the node refuses the new login",
                "password authentication failed").doesNotContain("not-the-password");
        // nor a file without a node the cluster has
        String withoutPg3 = good.substring(0, good.indexOf("  - name: pg-3")) + good.substring(good.indexOf("health_check:"));
        Files.writeString(file(), withoutPg3);
        assertThat(metakoctl(5, NEW_TOKEN, "reload")).contains("nodes.pg-3: the cluster has this node");
        try (Connection c = router(0, NEW_PROXY_PASSWORD)) {
            assertThat(one(c, "SELECT 1")).isEqualTo("1");
        }
        Files.writeString(file(), good);
    }

    @Test
    @Order(3)
    void aClusterWideKeyIsDriftAndAPortNeedsARestart() throws Exception {
        edit("  interval: 500ms", "  interval: 2s");
        edit("  failover_wait: 10s", "  failover_wait: 10s\n  max_client_connections: 77");
        String out = metakoctl(0, NEW_TOKEN, "reload");
        assertThat(out).contains("applied: nothing changed", "take effect at the next start: proxy.max_client_connections",
                "drift (not applied): health_check.interval: this instance's file says 2s, the cluster uses 500ms");
        try (var c = q.client(NEW_TOKEN, q.cluster.instances().get(0).grpc())) {
            assertThat(c.status().getSettings().getHealthCheck().getIntervalMillis()).isEqualTo(500);
            assertThat(c.status().getConfigDriftList()).singleElement().asString().startsWith("health_check.interval:");
        }
        assertThat(q.status(1).getConfigDriftList()).as("metako-2's file agrees").isEmpty();
        assertThat(metakoctl(0, NEW_TOKEN, "status")).contains("config drift: metako-1's file disagrees with the cluster");
    }

    @Test
    @Order(4)
    void reloadAllAsksEveryEndpoint() {
        StringWriter out = new StringWriter();
        String endpoints = q.cluster.instances().get(1).grpc() + "," + q.cluster.instances().get(2).grpc();
        int code = io.metako.client.cli.Metakoctl.commandLine(Map.of()).setOut(new PrintWriter(out))
                .setErr(new PrintWriter(out)).execute("--endpoints", endpoints, "--token", q.cluster.token(), "reload", "--all");
        assertThat(code).as(out.toString()).isZero();
        assertThat(out.toString()).contains("metako-2: reloaded", "metako-3: reloaded");
    }
}

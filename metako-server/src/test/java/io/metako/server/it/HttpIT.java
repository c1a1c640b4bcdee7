package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.util.JsonFormat;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.GetHistoryResponse;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * The HTTP endpoints of three real instances over a real cluster: every health endpoint's status code on the
 * leader and the followers, with the lease held and lost, with and without replicas; /cluster and /history as
 * metakoctl's JSON; the token where {@code http.auth: token} asks for it.
 */
class HttpIT extends QuorumScenario {
    private static final String READ_TOKEN = "read-only-token-0123456789";
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s", "async", (i, config) -> {
            if (i == 2) {
                String yaml = Files.readString(config);
                Files.writeString(config, yaml.replaceFirst("(?m)^(  auth_token_file: .*)$", "$1\n  read_token: " + READ_TOKEN)
                        + "\nhttp:\n  auth: token\n");
            }
        });
    }

    private HttpResponse<String> get(int instance, String path) throws Exception {
        return send(instance, "GET", path, null);
    }

    private HttpResponse<String> send(int instance, String method, String path, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + q.cluster.instances().get(instance).httpPort() + path)).timeout(Duration.ofSeconds(5))
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private int code(int instance, String path) throws Exception {
        return get(instance, path).statusCode();
    }

    @Test
    @Order(1)
    void everyEndpointAnswersOnAHealthyCluster() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            for (int i = 0; i < 3; i++) {
                for (String path : List.of("/health", "/primary", "/read-write", "/replica", "/read-only", "/liveness",
                        "/readiness", "/replica?lag=16MB")) {
                    assertThat(code(i, path)).as("instance %d %s: %s", i, path, get(i, path).body()).isEqualTo(200);
                }
            }
        });
        int leader = q.leaderIndex();
        for (int i = 0; i < 3; i++) {
            assertThat(code(i, "/leader")).as("instance %d", i).isEqualTo(i == leader ? 200 : 503);
            // HAProxy's "option httpchk OPTIONS /primary" and a HEAD get the same status
            assertThat(send(i, "OPTIONS", "/primary", null).statusCode()).isEqualTo(200);
            HttpResponse<String> head = send(i, "HEAD", "/leader", null);
            assertThat(head.statusCode()).isEqualTo(i == leader ? 200 : 503);
            assertThat(head.body()).isEmpty();
        }
        String body = get(0, "/primary").body();
        assertThat(body).contains("\"primary\":\"pg-1\"", "\"holds_lease\":true", "\"name\":\"pg-2\"", "\"name\":\"pg-3\"");

        ClusterStatus.Builder status = ClusterStatus.newBuilder();
        JsonFormat.parser().merge(get(1, "/cluster").body(), status);
        assertThat(status.getPrimary()).isEqualTo("pg-1");
        assertThat(status.getNodesCount()).isEqualTo(3);
        GetHistoryResponse.Builder history = GetHistoryResponse.newBuilder();
        JsonFormat.parser().merge(get(0, "/history").body(), history);
        assertThat(history.getEventsCount()).isPositive();
    }

    @Test
    @Order(2)
    void badRequestsAreRefusedSayingWhy() throws Exception {
        HttpResponse<String> missing = get(0, "/nothing");
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(missing.body()).contains("/primary");
        HttpResponse<String> post = send(0, "POST", "/primary", null);
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("Allow")).contains("GET, HEAD, OPTIONS");
        HttpResponse<String> lag = get(0, "/replica?lag=lots");
        assertThat(lag.statusCode()).isEqualTo(400);
        assertThat(lag.body()).contains("lag must be a size");
        // a request line far beyond the limit: refused, and the server goes on answering
        assertThat(get(0, "/health?x=" + "a".repeat(20_000)).statusCode()).isBetween(400, 499);
        assertThat(code(0, "/health")).isEqualTo(200);
    }

    @Test
    @Order(3)
    void theStatementsThroughAnInstancesRouterAreCountedInStatusMetricsAndMetakoctlStats() throws Exception {
        java.util.Properties p = new java.util.Properties();
        p.setProperty("user", io.metako.server.demo.LocalCluster.PROXY_USER);
        p.setProperty("password", q.cluster.password());
        try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:"
                + q.cluster.instances().get(0).proxyPort() + "/postgres", p); java.sql.Statement st = c.createStatement()) {
            st.execute("CREATE TABLE counted (x int)");
            for (int i = 0; i < 3; i++) {
                st.execute("INSERT INTO counted VALUES (" + i + ")");
            }
        }
        // a session that wrote reads on the primary until the replicas caught up (read-your-writes): read in another
        try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:postgresql://127.0.0.1:"
                + q.cluster.instances().get(0).proxyPort() + "/postgres", p); java.sql.Statement st = c.createStatement()) {
            for (int i = 0; i < 5; i++) {
                st.execute("SELECT 1");
            }
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> st.execute("SELECT 1/0"))
                    .hasMessageContaining("division by zero");
        }
        io.metako.proto.v1.ProxyStatus proxy = q.status(0).getProxy();
        assertThat(proxy.getStatements()).as(proxy.toString()).isGreaterThanOrEqualTo(10);
        assertThat(proxy.getReads()).isGreaterThanOrEqualTo(6); // SELECT 1 x5 and SELECT 1/0, on replicas
        assertThat(proxy.getWrites()).isGreaterThanOrEqualTo(4);
        assertThat(proxy.getFailures()).isGreaterThanOrEqualTo(1);
        assertThat(proxy.getNodesList()).anySatisfy(n -> {
            assertThat(n.getNode()).isEqualTo("pg-1");
            assertThat(n.getWrites()).isGreaterThanOrEqualTo(4);
        });
        assertThat(q.status(1).getProxy().getStatements()).as("metako-2's router carried none of them").isZero();

        String metrics = get(0, "/metrics").body();
        assertThat(metrics).contains("metako_proxy_statements_total{kind=\"write\",node=\"pg-1\",route=\"primary\"}",
                "metako_proxy_errors_total{class=\"22\"} 1.0", "metako_proxy_statement_duration_seconds_count{route=\"replica\"}",
                "metako_raft_leader", "jvm_threads_current");
        assertThat(metrics).containsPattern("metako_proxy_client_bytes_total\\{direction=\"in\"} [1-9]")
                .containsPattern("metako_proxy_client_bytes_total\\{direction=\"out\"} [1-9]");

        java.io.StringWriter out = new java.io.StringWriter();
        int code = io.metako.client.cli.Metakoctl.commandLine(java.util.Map.of("METAKO_TOKEN", q.cluster.token()))
                .setOut(new java.io.PrintWriter(out)).setErr(new java.io.PrintWriter(out))
                .execute("--endpoints", String.join(",", q.cluster.instances().stream()
                        .map(io.metako.server.demo.LocalCluster.InstanceSpec::grpc).toList()), "stats");
        assertThat(code).as(out.toString()).isZero();
        assertThat(out.toString().lines().toList()).as(out.toString())
                .anySatisfy(l -> assertThat(l).startsWith("metako-1 ").doesNotContain(" 0 0 0 0"))
                .anySatisfy(l -> assertThat(l).startsWith("metako-3 "))
                .anySatisfy(l -> assertThat(l).startsWith("total "))
                .anySatisfy(l -> assertThat(l).startsWith("pg-1 "));
    }

    @Test
    @Order(4)
    void aTokenIsAskedWhereHttpAuthIsTokenExceptForTheHealthChecks() throws Exception {
        assertThat(code(2, "/primary")).isEqualTo(200);
        HttpResponse<String> refused = get(2, "/cluster");
        assertThat(refused.statusCode()).isEqualTo(401);
        assertThat(refused.headers().firstValue("WWW-Authenticate")).isPresent();
        assertThat(refused.body()).contains("Bearer").doesNotContain(q.cluster.token());
        assertThat(send(2, "GET", "/cluster", "not-the-token-at-all").statusCode()).isEqualTo(401);
        assertThat(send(2, "GET", "/cluster", q.cluster.token()).statusCode())
                .as("the admin token is not taken over plain HTTP").isEqualTo(401);
        assertThat(send(2, "GET", "/cluster", READ_TOKEN).statusCode()).isEqualTo(200);
        assertThat(send(2, "GET", "/history", READ_TOKEN).statusCode()).isEqualTo(200);
        assertThat(code(0, "/cluster")).as("auth: none elsewhere").isEqualTo(200);
    }

    @Test
    @Order(5)
    void afterAFailoverPrimaryAnswersForTheNewOneAndTheQuarantinedNodeTakesNoReads() throws Exception {
        q.cluster.nodes().get(0).kill();
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                HttpResponse<String> r = get(i, "/primary");
                assertThat(r.statusCode()).as("instance %d: %s", i, r.body()).isEqualTo(200);
                assertThat(r.body()).doesNotContain("\"primary\":\"pg-1\"").doesNotContain("\"name\":\"pg-1\"");
            }
        });
        // one node left as a replica once the old primary is quarantined (this scenario does not rejoin it)
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(code(0, "/replica")).isEqualTo(200));
    }

    @Test
    @Order(6)
    void anInstanceCutOffFromItsGroupAnswers503() throws Exception {
        int survivor = 2;
        List<Integer> stopped = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            if (i != survivor) {
                q.stopInstance(i);
                stopped.add(i);
            }
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (String path : List.of("/health", "/leader", "/primary", "/read-write", "/replica", "/read-only",
                    "/readiness")) {
                HttpResponse<String> r = get(survivor, path);
                assertThat(r.statusCode()).as("%s: %s", path, r.body()).isEqualTo(503);
                assertThat(r.body()).contains("\"reason\":");
            }
        });
        assertThat(code(survivor, "/liveness")).as("alive, just alone").isEqualTo(200);
        for (int i : stopped) {
            q.startInstance(i);
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                assertThat(code(i, "/health")).isEqualTo(200);
                assertThat(code(i, "/primary")).isEqualTo(200);
            }
        });
    }
}

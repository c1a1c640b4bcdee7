package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.server.demo.FreePorts;
import io.metako.server.demo.LocalCluster;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * A real Prometheus (Debian's package), configured by {@code deploy/prometheus.yml} with the test's targets, scrapes
 * the three instances' {@code /metrics}: through its HTTP API, {@code up} is 1 for each, and
 * {@code metako_failovers_total} rises on every instance after a {@code kill -9} failover.
 */
class PrometheusIT extends QuorumScenario {
    private static final Path EXAMPLE = Path.of("..", "deploy", "prometheus.yml");
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    private ExternalTool prometheus;
    private int port;

    @Override
    Quorum startQuorum() throws IOException {
        return ExternalTool.quorumWith(() -> Quorum.start("500ms", "2s"), q -> startPrometheus(q.cluster));
    }

    private void startPrometheus(LocalCluster cluster) throws IOException {
        String cfg = Files.readString(EXAMPLE);
        String targets = "['10.0.0.11:7201', '10.0.0.12:7201', '10.0.0.13:7201']";
        assertThat(cfg).as("deploy/prometheus.yml").contains(targets).contains("scrape_interval: 15s");
        cfg = cfg.replace(targets, cluster.instances().stream().map(i -> "'127.0.0.1:" + i.httpPort() + "'")
                .collect(Collectors.joining(", ", "[", "]"))).replace("scrape_interval: 15s", "scrape_interval: 1s");
        prometheus = new ExternalTool("prometheus");
        port = FreePorts.take(1).get(0);
        prometheus.start(List.of("prometheus", "--config.file=" + prometheus.write("prometheus.yml", cfg),
                "--storage.tsdb.path=" + prometheus.dir.resolve("data"), "--web.listen-address=127.0.0.1:" + port));
    }

    @AfterAll
    void stopPrometheus() throws Exception {
        if (prometheus != null) {
            prometheus.close();
        }
    }

    /** Prometheus' answer to an instant query: the scraped target ({@code instance} label) -> value. */
    private Map<String, Double> query(String promql) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                + "/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8)))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        Struct.Builder b = Struct.newBuilder();
        JsonFormat.parser().merge(r.body(), b);
        Map<String, Double> out = new HashMap<>();
        for (Value v : b.getFieldsOrThrow("data").getStructValue().getFieldsOrThrow("result").getListValue().getValuesList()) {
            Struct series = v.getStructValue();
            String target = series.getFieldsOrThrow("metric").getStructValue().getFieldsOrDefault("instance",
                    Value.newBuilder().setStringValue("").build()).getStringValue(); // none after an aggregation
            out.put(target, Double.parseDouble(series.getFieldsOrThrow("value").getListValue().getValues(1).getStringValue()));
        }
        return out;
    }

    @Test
    @Order(1)
    void everyInstanceIsUpAndTheFailoverCounterRisesAfterAFailover() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            assertThat(query("up")).as("up, by target").hasSize(3).allSatisfy((k, v) -> assertThat(v).as(k).isEqualTo(1.0));
            assertThat(query("metako_node_healthy")).as("three nodes on each of three instances").isNotEmpty();
            assertThat(query("sum by (instance) (metako_node_healthy)")).hasSize(3)
                    .allSatisfy((k, v) -> assertThat(v).as(k).isEqualTo(3.0));
        });
        assertThat(query("sum by (instance) (metako_failovers_total)")).as("no failover yet").isEmpty();
        assertThat(query("sum(metako_raft_leader)")).containsValue(1.0);

        q.cluster.nodes().get(0).kill();
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(query("sum by (instance) (metako_failovers_total)")).as("failovers, by target").hasSize(3)
                    .allSatisfy((k, v) -> assertThat(v).as(k).isEqualTo(1.0));
            assertThat(query("max by (instance) (metako_epoch)")).allSatisfy((k, v) -> assertThat(v).isEqualTo(2.0));
            assertThat(query("sum by (instance) (metako_node_role{node=\"pg-1\",role=\"quarantined\"})")).hasSize(3);
        });
        assertThat(query("sum by (instance) (metako_operation_duration_seconds_count{kind=\"failover\"})")).hasSize(3);
        assertThat(query("sum by (instance) (metako_verdict_changes_total{node=\"pg-1\",verdict=\"down\"})"))
                .as("each instance saw pg-1 go down").hasSize(3);
        assertThat(query("sum by (instance) (metako_failover_phase_seconds_count{phase=\"detection\"})"))
                .as("detection timed on every instance").hasSize(3).allSatisfy((k, v) -> assertThat(v).isEqualTo(1.0));
        assertThat(query("sum(metako_failover_phase_seconds_count{phase=\"promotion\"})"))
                .as("pg_promote timed by the leader that ran it").containsValue(1.0);
    }
}

package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.TopologyEvent;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The failover benchmark (run by scripts/failover-bench.sh, not by the default build): N kill -9
 * drills of the primary, each on a fresh real cluster and quorum whose instances manage the nodes beside them,
 * printing detection time, promotion time, kill-to-first-successful-write, kill to the old primary streaming as a
 * replica again (its REJOIN), and kill to all three nodes healthy. It prints figures and asserts only that every
 * drill ended with a writable primary and a rejoined old one.
 */
class FailoverBench {
    record Drill(long detection, long promotion, long killToWrite, long killToRejoin, long killToAllHealthy) {
    }

    @Test
    void killDrills() throws Exception {
        int drills = Integer.getInteger("bench.drills", 5);
        String interval = System.getProperty("bench.interval", "1s");
        // bench.set: seeded with bench.interval, then changed on the running cluster by metakoctl config set
        String live = System.getProperty("bench.set", "");
        List<Drill> results = new ArrayList<>();
        for (int d = 1; d <= drills; d++) {
            Drill drill = oneDrill(interval, live);
            System.out.printf(Locale.ROOT, "[bench] drill %d/%d interval %s: detection %d ms, promotion %d ms, kill-to-write %d ms,"
                    + " kill-to-rejoin %d ms, kill-to-all-healthy %d ms%n", d, drills, interval, drill.detection(),
                    drill.promotion(), drill.killToWrite(), drill.killToRejoin(), drill.killToAllHealthy());
            results.add(drill);
        }
        System.out.printf(Locale.ROOT, "[bench] interval %s, timeout %s, failure_threshold 3, %d drills%s%n", interval, interval,
                drills, live.isEmpty() ? "" : ", then metakoctl config set health_check.interval=" + live + " timeout=" + live);
        summary("detection", results.stream().mapToLong(Drill::detection).sorted().toArray());
        summary("promotion", results.stream().mapToLong(Drill::promotion).sorted().toArray());
        summary("kill-to-write", results.stream().mapToLong(Drill::killToWrite).sorted().toArray());
        summary("kill-to-rejoin", results.stream().mapToLong(Drill::killToRejoin).sorted().toArray());
        summary("kill-to-healthy", results.stream().mapToLong(Drill::killToAllHealthy).sorted().toArray());
    }

    private static void summary(String what, long[] sorted) {
        long median = sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
        System.out.printf(Locale.ROOT, "[bench] %-14s median %5d ms   worst %5d ms%n", what, median, sorted[sorted.length - 1]);
    }

    private static Drill oneDrill(String interval, String live) throws Exception {
        try (Quorum q = Quorum.start(interval, "2s", "async", true, (i, config) -> { })) {
            await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
                try (MetakoClient c = q.client(0)) {
                    assertThat(c.status().getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
                }
            });
            if (!live.isEmpty()) {
                java.io.StringWriter out = new java.io.StringWriter();
                int code = io.metako.client.cli.Metakoctl.commandLine(java.util.Map.of("METAKO_TOKEN", q.cluster.token()))
                        .setOut(new java.io.PrintWriter(out)).setErr(new java.io.PrintWriter(out))
                        .execute("--endpoints", q.cluster.instances().get(1).grpc(), "config", "set",
                                "health_check.interval=" + live, "health_check.timeout=" + live);
                assertThat(code).as(out.toString()).isZero();
                await().atMost(Duration.ofSeconds(30)).until(() -> java.util.Arrays.stream(q.instances)
                        .allMatch(i -> i.state().getSettings().getHealthCheck().getTimeoutMillis()
                                == io.metako.server.config.Units.parseDuration(live).toMillis()));
            }
            try (Connection c = q.connect(0); Statement st = c.createStatement()) {
                st.execute("CREATE TABLE bench (id int)");
            }
            // start from a settled cluster: the same primary, no change, for two seconds
            Thread.sleep(2000);
            assertThat(q.instances[0].state().getEpoch()).as("no spurious failover before the drill").isEqualTo(1);
            ProcessHandle postmaster = q.cluster.nodes().get(0).postmaster().orElseThrow();
            long killedAt = System.currentTimeMillis();
            long killedNanos = System.nanoTime();
            postmaster.destroyForcibly(); // SIGKILL; its children exit on their own within a second or two
            long wroteNanos = -1;
            while (wroteNanos < 0 && System.nanoTime() - killedNanos < Duration.ofSeconds(60).toNanos()) {
                for (int i = 1; i < 3 && wroteNanos < 0; i++) {
                    if (write(q, i)) {
                        wroteNanos = System.nanoTime();
                    }
                }
                Thread.sleep(10);
            }
            assertThat(wroteNanos).as("a replica became writable").isPositive();
            // pg-1's managing instance reaps what is left of it, rewinds it and starts it as a replica
            long healthyNanos = -1;
            while (healthyNanos < 0 && System.nanoTime() - killedNanos < Duration.ofSeconds(90).toNanos()) {
                ClusterState s = q.instances[1].state();
                var status = q.status(1);
                boolean healthy = status.getNodesList().stream().allMatch(n -> n.getHealth() == MajorityHealth.HEALTHY)
                        && status.getNodesList().stream().filter(n -> n.getNode().getRole()
                                == io.metako.proto.v1.NodeRole.REPLICA).count() == 2 && !s.getPrimary().isEmpty();
                if (healthy) {
                    healthyNanos = System.nanoTime();
                }
                Thread.sleep(20);
            }
            assertThat(healthyNanos).as("all three nodes healthy again, pg-1 a replica").isPositive();
            TopologyEvent e = await().atMost(Duration.ofSeconds(30)).until(() -> lastFailover(q.instances[0].state()),
                    x -> x != null);
            TopologyEvent rejoin = q.instances[0].state().getHistoryList().stream()
                    .filter(x -> x.getKind() == EventKind.REJOIN).reduce((a, b) -> b).orElseThrow();
            return new Drill(e.getStartedMillis() - killedAt, e.getTimeMillis() - e.getStartedMillis(),
                    (wroteNanos - killedNanos) / 1_000_000, rejoin.getTimeMillis() - killedAt,
                    (healthyNanos - killedNanos) / 1_000_000);
        }
    }

    private static TopologyEvent lastFailover(ClusterState s) {
        return s.getHistoryList().stream().filter(e -> e.getKind() == EventKind.FAILOVER).reduce((a, b) -> b).orElse(null);
    }

    private static boolean write(Quorum q, int node) {
        try (Connection c = q.connect(node); Statement st = c.createStatement()) {
            st.execute("INSERT INTO bench VALUES (1)");
            return true;
        } catch (SQLException e) {
            return false;
        }
    }
}

package io.metako.server.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.TopologyEvent;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The managing instance, a process of its own, gets SIGKILL while its node's pg_rewind runs: no failure is
 * reported, the half-written data directory is never started, and the instance, back, finishes the rejoin (by a
 * fresh clone when the marker says the directory may be half-written).
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class RejoinKillIT {
    private static ChaosCluster c;

    @BeforeAll
    static void start() throws Exception {
        c = ChaosCluster.start(3, "async", Duration.ofSeconds(120), false, 0, true, config -> { });
    }

    private static ProcessHandle orphanParent;

    @AfterAll
    static void stop() throws Exception {
        if (orphanParent != null && orphanParent.isAlive()) {
            new ProcessBuilder("kill", "-CONT", Long.toString(orphanParent.pid())).start().waitFor();
            if (!orphanParent.onExit().completeOnTimeout(null, 10, TimeUnit.SECONDS).thenApply(p -> true).get()
                    || orphanParent.isAlive()) {
                orphanParent.destroyForcibly();
            }
        }
        if (c != null) {
            c.close();
            c.deleteFiles();
        }
    }

    /** pg_rewind (argv[0]) with {@code dataDir} among its arguments, read from /proc as the agent reads it. */
    private static boolean isRewindOf(ProcessHandle p, String dataDir) {
        try {
            String[] args = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", Long.toString(p.pid()), "cmdline"))
                    .split("\0");
            return args.length > 0 && args[0].endsWith("pg_rewind") && java.util.Arrays.asList(args).contains(dataDir);
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
    }

    @Test
    void anInstanceKilledInTheMiddleOfItsNodesRejoinFinishesItWhenItIsBack() throws Exception {
        try (Connection conn = c.connectNode(0); Statement st = conn.createStatement()) {
            st.execute("CREATE TABLE survived (id int primary key)");
            st.execute("INSERT INTO survived VALUES (1)");
        }
        long from = c.logSize(0);
        c.nodeTree(0).get(0).destroyForcibly(); // SIGKILL of pg-1's postmaster; metako-1 manages pg-1
        assertThat(c.awaitLogLine(0, from, "pg_rewind from", 90_000)).as("metako-1 starts rewinding pg-1").isTrue();
        var pg1 = c.cluster.nodes().get(0);
        // the pg_rewind it runs (with its crash recovery it takes several hundred ms): held still, then its instance
        // gets SIGKILL; it must be ended by the instance when that is back
        ProcessHandle orphan;
        try {
            orphan = await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(1)).until(() ->
                    ProcessHandle.allProcesses().filter(p -> isRewindOf(p, pg1.dataDir().toString())).findFirst().orElse(null),
                    java.util.Objects::nonNull);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            Process ps = new ProcessBuilder("ps", "-eo", "pid,ppid,stat,args").redirectErrorStream(true).start();
            System.out.println("[rejoin-kill] no pg_rewind found; processes:\n"
                    + new String(ps.getInputStream().readAllBytes()).lines().filter(l -> l.contains("pg_") || l.contains("postgres")
                    || l.contains("runuser")).collect(java.util.stream.Collectors.joining("\n")) + "\nmarker: "
                    + java.nio.file.Files.exists(pg1.nodeDir().resolve("data.metako-rejoin")) + ", node: " + pg1.status());
            throw e;
        }
        assertThat(new ProcessBuilder("kill", "-STOP", Long.toString(orphan.pid())).start().waitFor()).isZero();
        // runuser, its parent, waits with WUNTRACED: it stops too, and must be let go at the end (or it stays, stopped)
        orphanParent = orphan.parent().orElse(null);
        c.killInstance(0);
        assertThat(java.nio.file.Files.exists(pg1.nodeDir().resolve("data.metako-rejoin")))
                .as("the rewind was under way: the marker says the directory may be half-written").isTrue();
        // never started while half-written: nothing serves on its port (pg_rewind's own single-user crash recovery
        // may be under way, held still with it)
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.connectNode(0).close())
                .as("never started while half-written").isInstanceOf(java.sql.SQLException.class);

        List<ClusterStatus> during = c.statuses();
        assertThat(during).isNotEmpty();
        assertThat(during.get(0).getNodesList().stream().filter(n -> n.getNode().getName().equals("pg-1")).findFirst()
                .orElseThrow().getNode().getRole()).isEqualTo(NodeRole.QUARANTINED);

        long restarted = c.logSize(0);
        c.startInstance(0);
        assertThat(c.awaitLogLine(0, restarted, "ended 1 pg_rewind / pg_basebackup process(es) an earlier attempt left"
                + " running", 60_000)).isTrue();
        assertThat(io.metako.server.pg.LocalPostgres.running(orphan)).as("ended (its parent may reap it later)").isFalse();
        await().atMost(Duration.ofSeconds(120)).untilAsserted(() -> {
            ClusterStatus s = c.status(1).orElseThrow();
            assertThat(s.getNodesList().stream().filter(n -> n.getNode().getName().equals("pg-1")).findFirst()
                    .orElseThrow().getNode().getRole()).as(s.getControllerSentence()).isEqualTo(NodeRole.REPLICA);
        });
        ClusterStatus s = c.status(1).orElseThrow();
        String primary = s.getPrimary();
        try (var client = c.client(1)) {
            TopologyEvent rejoin = client.history().getEventsList().stream().filter(e -> e.getKind() == EventKind.REJOIN)
                    .reduce((a, b) -> b).orElseThrow();
            System.out.println("[rejoin-kill] " + rejoin.getReason() + " in "
                    + (rejoin.getTimeMillis() - rejoin.getStartedMillis()) + " ms, the instance's kill and restart included");
            assertThat(rejoin.getReason()).isEqualTo("pg-1 rejoined " + primary + " by a fresh clone (attempt 1)");
        }
        try (Connection conn = c.connectNode(c.nodeIndex(primary)); Statement st = conn.createStatement()) {
            st.execute("INSERT INTO survived VALUES (2)");
        }
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            try (Connection conn = c.connectNode(0); Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT count(*), bool_and(pg_is_in_recovery()) FROM survived")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(2);
                assertThat(rs.getBoolean(2)).isTrue();
            }
        });
        assertThat(java.nio.file.Files.exists(pg1.nodeDir().resolve("data.metako-rejoin"))).isFalse();
    }
}

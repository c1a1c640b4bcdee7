package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.metako.client.MetakoClient;
import io.metako.client.MetakoClientException;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.MemberRole;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.server.pg.LocalPostgres;
import java.io.IOException;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** A real primary + 2 replicas watched by a real 3-peer Ratis group of metako instances. */
class QuorumIT extends QuorumScenario {

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms");
    }



    private List<Integer> running() {
        List<Integer> up = new ArrayList<>();
        for (int i = 0; i < q.instances.length; i++) {
            if (q.instances[i] != null) {
                up.add(i);
            }
        }
        return up;
    }

    private void awaitAllAgree(MajorityHealth pg3Health) {
        await().atMost(CONVERGE).pollInterval(Duration.ofMillis(250)).untilAsserted(() -> {
            List<ClusterStatus> all = running().stream().map(q::status).toList();
            for (ClusterStatus s : all) {
                assertThat(s.getSeeded()).isTrue();
                assertThat(s.getEpoch()).isEqualTo(1);
                assertThat(s.getPrimary()).isEqualTo("pg-1");
                assertThat(s.getLeaderId()).isNotEmpty().isEqualTo(all.get(0).getLeaderId());
                assertThat(Quorum.node(s, "pg-1").getHealth()).isEqualTo(MajorityHealth.HEALTHY);
                assertThat(Quorum.node(s, "pg-2").getHealth()).isEqualTo(MajorityHealth.HEALTHY);
                assertThat(Quorum.node(s, "pg-3").getHealth()).isEqualTo(pg3Health);
                assertThat(s.getNodesList()).extracting(n -> n.getNode().getRole())
                        .containsExactly(NodeRole.PRIMARY, NodeRole.REPLICA, NodeRole.REPLICA);
            }
        });
    }

    @Test
    @Order(1)
    void allInstancesReportTheSameEpochPrimaryAndReplicas() {
        awaitAllAgree(MajorityHealth.HEALTHY);
        ClusterStatus s = q.status(0);
        assertThat(s.getInstances()).isEqualTo(3);
        assertThat(s.getMembersList()).extracting(m -> m.getRole())
                .containsOnly(MemberRole.LEADER, MemberRole.FOLLOWER).containsOnlyOnce(MemberRole.LEADER);
        assertThat(s.getControllerSentence()).isEqualTo("no action: pg-1 is primary at epoch 1");
        assertThat(Quorum.node(s, "pg-1").getObservation().getInRecovery()).isFalse();
        assertThat(Quorum.node(s, "pg-2").getObservation().getInRecovery()).isTrue();
        assertThat(Quorum.node(s, "pg-2").getObservation().getTimeline()).isEqualTo(1);
        // the replicated states, not just the answers, are identical
        ClusterState first = q.instances[0].state();
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(q.instances[1].state()).isEqualTo(q.instances[0].state());
            assertThat(q.instances[2].state()).isEqualTo(q.instances[0].state());
        });
        assertThat(first.getEpoch()).isEqualTo(1);
    }

    @Test
    @Order(2)
    void replicationLagIsReportedInBytesAndSeconds() throws Exception {
        try (Connection primary = q.connect(0); Statement p = primary.createStatement()) {
            // lag in seconds is the age of the last replayed commit: give the replica one first
            p.execute("CREATE TABLE IF NOT EXISTS lag_probe (id int, pad text)");
            await().atMost(CONVERGE).untilAsserted(() ->
                    assertThat(Quorum.node(q.status(0), "pg-2").getObservation().getLagBytes()).isZero());
        }
        try (Connection replica = q.connect(1); Statement st = replica.createStatement()) {
            st.execute("SELECT pg_wal_replay_pause()");
            Thread.sleep(1100);
            try (Connection primary = q.connect(0); Statement p = primary.createStatement()) {
                p.execute("INSERT INTO lag_probe SELECT g, repeat('x', 500) FROM generate_series(1, 4000) g");
                await().atMost(CONVERGE).untilAsserted(() -> {
                    NodeStatus pg2 = Quorum.node(q.status(0), "pg-2");
                    assertThat(pg2.getObservation().getLagBytes()).isGreaterThan(1_000_000);
                    assertThat(pg2.getObservation().getLagSeconds()).isGreaterThan(0.0);
                    assertThat(Quorum.node(q.status(0), "pg-3").getObservation().getLagBytes()).isLessThan(1_000_000);
                });
            } finally {
                st.execute("SELECT pg_wal_replay_resume()");
            }
        }
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(Quorum.node(q.status(0), "pg-2").getObservation().getLagBytes()).isZero());
    }

    @Test
    @Order(3)
    void aClientWithTheWrongTokenIsRefused() {
        try (MetakoClient c = q.client("not-the-token-at-all", q.cluster.instances().get(0).grpc())) {
            assertThatThrownBy(c::status).isInstanceOfSatisfying(MetakoClientException.class, e -> {
                assertThat(e.reason()).isEqualTo(MetakoClientException.Reason.UNAUTHENTICATED);
                assertThat(e.getMessage()).contains("UNAUTHENTICATED").doesNotContain(q.cluster.token());
            });
        }
        try (MetakoClient c = q.client(null, q.cluster.instances().get(0).grpc())) {
            assertThatThrownBy(c::members).hasMessageContaining("missing bearer token");
        }
    }

    @Test
    @Order(4)
    void theClientMovesOnWhenAnEndpointIsDown() {
        try (MetakoClient c = q.client(q.cluster.token(), "127.0.0.1:1", q.cluster.instances().get(1).grpc())) {
            assertThat(c.status().getAnsweredBy()).isEqualTo("metako-2");
        }
        try (MetakoClient c = q.client(q.cluster.token(), "127.0.0.1:1")) {
            assertThatThrownBy(c::status).isInstanceOfSatisfying(MetakoClientException.class,
                    e -> assertThat(e.reason()).isEqualTo(MetakoClientException.Reason.NO_ENDPOINT_ANSWERED));
        }
    }

    @Test
    @Order(5)
    void killingTheLeaderInstanceLeavesTwoThatServeAndDecide() throws Exception {
        int leader = q.leaderIndex();
        assertThat(leader).isNotNegative();
        q.stopInstance(leader);
        LocalPostgres pg3 = q.cluster.nodes().get(2);
        pg3.stop(LocalPostgres.StopMode.IMMEDIATE);
        // two instances are a majority: they elect a leader and commit their DOWN verdicts
        awaitAllAgree(MajorityHealth.FAILED);
        for (int i : running()) {
            assertThat(q.status(i).getLeaderId()).isNotEqualTo("metako-" + (leader + 1));
        }
        pg3.start();
        awaitAllAgree(MajorityHealth.HEALTHY);
        q.startInstance(leader);
    }

    @Test
    @Order(6)
    void aRestartedInstanceCatchesUpByLogReplay() throws Exception {
        awaitAllAgree(MajorityHealth.HEALTHY);
        int follower = (q.leaderIndex() + 1) % 3;
        q.stopInstance(follower);
        LocalPostgres pg3 = q.cluster.nodes().get(2);
        pg3.stop(LocalPostgres.StopMode.IMMEDIATE);
        awaitAllAgree(MajorityHealth.FAILED);
        pg3.start();
        awaitAllAgree(MajorityHealth.HEALTHY);
        q.startInstance(follower);
        int other = (follower + 1) % 3;
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(q.instances[follower].state()).isEqualTo(q.instances[other].state()));
        assertThat(q.instances[follower].state().getVerdictsList())
                .anyMatch(v -> v.getNode().equals("pg-3") && v.getSinceMillis() > 0);
    }

    @Test
    @Order(7)
    void anInstanceRestartedAfterASnapshotComesBackWithIdenticalState() throws Exception {
        awaitAllAgree(MajorityHealth.HEALTHY);
        int i = (q.leaderIndex() + 2) % 3;
        long index = q.instances[i].raft().snapshot();
        assertThat(index).isPositive();
        ClusterState before = q.instances[i].state();
        q.stopInstance(i);
        assertThat(q.config(i).instance().storageDir().resolve("raft")).isDirectory();
        q.startInstance(i);
        // right after start the state comes from the snapshot (then the log tail replays on top)
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterState now = q.instances[i].state();
            assertThat(now.getEpoch()).isEqualTo(before.getEpoch());
            assertThat(now.getNodesList()).isEqualTo(before.getNodesList());
            assertThat(now.getHistoryList()).isEqualTo(before.getHistoryList());
            assertThat(now).isEqualTo(q.instances[(i + 1) % 3].state());
        });
    }

    @Test
    @Order(8)
    void aFrozenNodeIsReportedDownWithoutHangingTheProber() throws Exception {
        awaitAllAgree(MajorityHealth.HEALTHY);
        LocalPostgres pg2 = q.cluster.nodes().get(1);
        ProcessHandle postmaster = pg2.postmaster().orElseThrow();
        List<ProcessHandle> family = new ArrayList<>(postmaster.descendants().toList());
        family.add(postmaster);
        signal("STOP", family);
        try {
            long before = Quorum.node(q.status(0), "pg-1").getObservation().getObservedAtMillis();
            await().atMost(CONVERGE).untilAsserted(() -> {
                ClusterStatus s = q.status(0);
                assertThat(Quorum.node(s, "pg-2").getHealth()).isEqualTo(MajorityHealth.FAILED);
                assertThat(Quorum.node(s, "pg-2").getObservation().getError()).isNotEmpty();
                // the other nodes keep being probed on time
                assertThat(Quorum.node(s, "pg-1").getHealth()).isEqualTo(MajorityHealth.HEALTHY);
                assertThat(Quorum.node(s, "pg-1").getObservation().getObservedAtMillis()).isGreaterThan(before);
            });
        } finally {
            signal("CONT", family);
        }
        await().atMost(CONVERGE).untilAsserted(() ->
                assertThat(Quorum.node(q.status(0), "pg-2").getHealth()).isEqualTo(MajorityHealth.HEALTHY));
    }

    @Test
    @Order(9)
    void metakoctlShowsStatusListMembersAndWatchesChanges() throws Exception {
        awaitAllAgree(MajorityHealth.HEALTHY);
        java.util.Map<String, String> env = java.util.Map.of("METAKO_ENDPOINTS",
                "127.0.0.1:1," + q.cluster.instances().get(0).grpc(), "METAKO_TOKEN", q.cluster.token());
        assertThat(ctl(env, "status")).contains("epoch 1", "primary pg-1", "controller: no action: pg-1 is primary at epoch 1",
                "pg-2", "HEALTHY", "3/3", "metako-1 *");
        String json = ctl(env, "-o", "json", "list");
        assertThat(json).startsWith("[").contains("\"name\": \"pg-3\"").contains("\"health\": \"HEALTHY\"");
        assertThat(ctl(env, "members")).contains("LEADER", "FOLLOWER", "metako-3");

        // watch: the first line now, then one per change while pg-3 goes down by majority and back
        java.io.StringWriter watched = new java.io.StringWriter();
        picocli.CommandLine watch = io.metako.client.cli.Metakoctl.commandLine(env);
        watch.setOut(new java.io.PrintWriter(watched, true)).setErr(new java.io.PrintWriter(watched, true));
        Thread watcher = new Thread(() -> watch.execute("watch"), "metakoctl-watch");
        watcher.start();
        await().atMost(CONVERGE).until(() -> watched.toString().contains("pg-3=replica/healthy"));
        LocalPostgres pg3 = q.cluster.nodes().get(2);
        pg3.stop(LocalPostgres.StopMode.IMMEDIATE);
        try {
            await().atMost(CONVERGE).until(() -> watched.toString().contains("pg-3=replica/failed"));
        } finally {
            pg3.start();
        }
        await().atMost(CONVERGE).until(() -> watched.toString().lines()
                .reduce((a, b) -> b).orElse("").contains("pg-3=replica/healthy"));
        watcher.interrupt();
        watcher.join(10_000);
        assertThat(watcher.isAlive()).as("watch stops when interrupted").isFalse();
    }

    @Test
    @Order(10)
    void metakoctlExitCodesSayWhatWentWrong() throws Exception {
        java.util.Map<String, String> dead = java.util.Map.of("METAKO_ENDPOINTS", "127.0.0.1:1", "METAKO_TOKEN", "x");
        assertThat(ctlExit(dead, "status")).isEqualTo(3);
        java.util.Map<String, String> wrong = java.util.Map.of("METAKO_ENDPOINTS", q.cluster.instances().get(1).grpc(),
                "METAKO_TOKEN", "wrong-token-wrong-token");
        assertThat(ctlExit(wrong, "status")).isEqualTo(4);
        assertThat(ctlExit(wrong, "--endpoints", "nonsense", "status")).isEqualTo(2);
        assertThat(ctlExit(wrong, "frobnicate")).isEqualTo(2);
    }

    @Test
    @Order(11)
    void anInstanceThatLosesTheQuorumStopsRoutingWritesWithinTheLease() throws Exception {
        awaitAllAgree(MajorityHealth.HEALTHY);
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                assertThat(q.instances[i].routing().current().acceptsWrites()).isTrue();
                assertThat(q.instances[i].routing().current().primary()).hasValueSatisfying(
                        p -> assertThat(p.name()).isEqualTo("pg-1"));
                assertThat(q.status(i).getHoldsLease()).isTrue();
            }
        });
        int alone = q.leaderIndex(); // the harder case: the leader itself loses its followers
        int a = (alone + 1) % 3;
        int b = (alone + 2) % 3;
        q.stopInstance(a);
        q.stopInstance(b);
        long lease = q.config(alone).failover().lease().toMillis();
        long lost = System.nanoTime();
        await().atMost(Duration.ofMillis(lease + 3000)).pollInterval(Duration.ofMillis(50)).untilAsserted(() ->
                assertThat(q.instances[alone].routing().current().writable()).isFalse());
        System.out.println("[lease] instance alone stopped routing writes after "
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lost) + " ms (lease " + lease + " ms)");
        assertThat(q.status(alone).getHoldsLease()).isFalse();
        q.startInstance(a);
        q.startInstance(b);
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                assertThat(q.instances[i].routing().current().acceptsWrites()).isTrue();
            }
        });
    }

    private static String ctl(java.util.Map<String, String> env, String... args) {
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        picocli.CommandLine cl = io.metako.client.cli.Metakoctl.commandLine(env);
        cl.setOut(new java.io.PrintWriter(out, true)).setErr(new java.io.PrintWriter(err, true));
        int code = cl.execute(args);
        assertThat(code).as(err.toString()).isZero();
        return out.toString();
    }

    private static int ctlExit(java.util.Map<String, String> env, String... args) {
        picocli.CommandLine cl = io.metako.client.cli.Metakoctl.commandLine(env);
        cl.setOut(new java.io.PrintWriter(new java.io.StringWriter(), true));
        cl.setErr(new java.io.PrintWriter(new java.io.StringWriter(), true));
        return cl.execute(args);
    }

    private static void signal(String sig, List<ProcessHandle> processes) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("kill", "-" + sig));
        processes.forEach(p -> cmd.add(Long.toString(p.pid())));
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        assertThat(p.waitFor()).isZero();
    }
}

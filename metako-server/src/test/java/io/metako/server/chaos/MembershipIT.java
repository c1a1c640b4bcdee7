package io.metako.server.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.client.MetakoClient;
import io.metako.client.MetakoClientException;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.ListMembersResponse;
import io.metako.proto.v1.Member;
import io.metako.proto.v1.MutationResponse;
import io.metako.server.it.RouterWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Instances join and leave the Raft group while clients write through every proxy, each instance a process of its
 * own with real PostgreSQL: 3 -> 5 members (two started with --join and added), 5 -> 3 (two of the original ones
 * removed, the leader possibly among them), a removal that would leave no reachable majority refused, and a
 * kill -9'd instance replaced (a new one added, the dead one removed), with a switchover in the group of 5. Every
 * acknowledged write is on the primary at the end; the writers on instances that stay in the group are never refused
 * while it shrinks; a removed instance refuses writes at once, in an open session too.
 */
class MembershipIT {
    private static final Duration SETTLE = Duration.ofSeconds(90);

    @Test
    void threeToFiveToThreeThenReplaceADeadInstanceWhileWriting() throws Exception {
        try (ChaosCluster c = ChaosCluster.startGrowable(6, 3, Duration.ofSeconds(120))) {
            try (Connection primary = c.connectNode(0)) {
                for (int w = 0; w < 5; w++) {
                    primary.createStatement().execute("CREATE TABLE members_w" + w + " (id int PRIMARY KEY)");
                }
            }
            RouterWriter[] writers = new RouterWriter[5];
            int stayed; // the one of the original three that stays in the group of 3 -> 5 -> 3
            for (int w = 0; w < 3; w++) {
                writers[w] = writer(c, w).start();
            }
            try (MetakoClient ops = c.client(List.of(0, 1, 2))) {
                // 3 -> 5: two instances started with --join wait, then are added through the leader
                for (int i = 3; i <= 4; i++) {
                    c.startInstance(i, true);
                    awaitSentence(c, i, "waiting to be added");
                    MutationResponse added = ops.addMember(c.instanceName(i), c.raftAddress(i), c.grpc(i), "membership-it");
                    assertThat(added.getApplied()).isTrue();
                    assertThat(added.getMessage()).contains(c.instanceName(i) + " joined");
                }
                ClusterStatus five = c.awaitSettled(SETTLE);
                assertThat(voters(five.getMembersList())).hasSize(5);
                ClusterStatus fromNew = c.status(4).orElseThrow();
                assertThat(fromNew.getEpoch()).isEqualTo(five.getEpoch()); // the state came to it through Raft
                assertThat(fromNew.getHoldsLease()).isTrue();
                for (int w = 3; w <= 4; w++) {
                    writers[w] = writer(c, w).start();
                }
                awaitWrites(writers[3], writers[4]);
                assertThat(c.client(4).history().getEventsList()).anyMatch(e -> e.getKind() == EventKind.MEMBER_ADDED
                        && e.getMember().equals(c.instanceName(4)) && e.getRequestedBy().equals("membership-it"));

                // a switchover in the group of 5: every one of the 5 acknowledges the new epoch
                String before = five.getPrimary();
                assertThat(ops.switchover("").getApplied()).isTrue();
                ClusterStatus switched = c.awaitSettled(SETTLE);
                assertThat(switched.getPrimary()).isNotEqualTo(before);
                assertThat(switched.getEpoch()).isGreaterThan(five.getEpoch());
                awaitWrites(writers);
                int[] failuresBefore = new int[5];
                for (int w = 0; w < 5; w++) {
                    failuresBefore[w] = writers[w].failures.get();
                }

                // 5 -> 3: two of the original instances leave, the leader first (it hands its leadership over and
                // removes itself); each refuses writes at once
                int lead = c.leaderIndex();
                int first = lead >= 0 && lead <= 2 ? lead : 0;
                int second = first == 0 ? 1 : 0;
                int stayer = 3 - first - second;
                try (MetakoClient rest = c.client(List.of(stayer, 3, 4, first, second))) {
                    for (int i : new int[] {first, second}) {
                        MutationResponse removed = remove(rest, c.instanceName(i));
                        assertThat(removed.getApplied()).isTrue();
                        assertThat(removed.getMessage()).contains(c.instanceName(i) + " left");
                        assertThat(writeThrough(c, i)).as("a write through removed %s", c.instanceName(i)).isPresent();
                        awaitFailure(writers[i], failuresBefore[i]); // its open session too
                        assertThat(c.status(i).orElseThrow().getControllerSentence()).startsWith("removed from the Raft group");
                    }
                }
                for (int w : new int[] {first, second}) {
                    writers[w].stop();
                    c.killInstance(w);
                }
                ClusterStatus three = c.awaitSettled(SETTLE);
                assertThat(voters(three.getMembersList())).containsExactlyInAnyOrder(c.instanceName(stayer),
                        c.instanceName(3), c.instanceName(4));
                awaitWrites(writers[stayer], writers[3], writers[4]);
                for (int w : new int[] {stayer, 3, 4}) {
                    assertThat(writers[w].failures.get() - failuresBefore[w])
                            .as("writes refused through %s, which stayed", c.instanceName(w)).isZero();
                }
                stayed = stayer;
            }

            // kill -9 one of the three: removing a live one now would leave 1 of 3 reachable, refused
            writers[stayed].stop();
            c.killInstance(stayed);
            Thread.sleep(4000); // the leader counts a follower silent after 2 s
            try (MetakoClient ops = c.client(List.of(3, 4))) {
                assertThatThrownBy(() -> remove(ops, c.instanceName(3)))
                        .isInstanceOf(MetakoClientException.class).hasMessageContaining("fewer than a majority");
                assertThat(voters(c.status(3).orElseThrow().getMembersList())).hasSize(3);

                // replace the dead one: add a new instance, then remove the dead one
                c.startInstance(5, true);
                awaitSentence(c, 5, "waiting to be added");
                assertThat(ops.addMember(c.instanceName(5), c.raftAddress(5), c.grpc(5), "membership-it").getApplied())
                        .isTrue();
                assertThat(remove(ops, c.instanceName(stayed)).getApplied()).isTrue();
            }
            ClusterStatus replaced = c.awaitSettled(SETTLE);
            assertThat(voters(replaced.getMembersList())).containsExactlyInAnyOrder(c.instanceName(3), c.instanceName(4),
                    c.instanceName(5));
            awaitRetired(c, 5, Set.of(c.instanceName(0), c.instanceName(1), c.instanceName(2)));
            awaitWrites(writers[3], writers[4]);
            for (int w = 3; w <= 4; w++) {
                writers[w].stop();
            }

            // every acknowledged write is on the primary
            int primaryNode = c.nodeIndex(replaced.getPrimary());
            try (Connection conn = c.connectNode(primaryNode)) {
                for (int w = 0; w < 5; w++) {
                    Set<Integer> present = new HashSet<>();
                    try (ResultSet rs = conn.createStatement().executeQuery("SELECT id FROM members_w" + w)) {
                        while (rs.next()) {
                            present.add(rs.getInt(1));
                        }
                    }
                    assertThat(writers[w].acked).as("writer %d's acknowledged ids", w).isNotEmpty();
                    assertThat(present).as("writer %d: acknowledged ids on the primary", w).containsAll(writers[w].acked);
                }
            }
            c.close();
            c.deleteFiles(); // kept when an assertion failed, for the instances' logs
        }
    }

    /**
     * Under mutual TLS on the Raft links, as production runs: the new member's Raft connections and signed commands
     * are admitted once it is registered (the other instances' files do not name it); once it has left, it routes
     * nothing. The instances compact their logs often, so the new member receives the state by InstallSnapshot.
     */
    @Test
    void aMemberJoinsAndLeavesUnderMutualTls() throws Exception {
        // every instance snapshots every 20 entries and drops the log up to it: the new member gets a snapshot
        try (ChaosCluster c = ChaosCluster.startGrowable(4, 3, Duration.ofSeconds(120), true, 20)) {
            try (Connection primary = c.connectNode(0)) {
                primary.createStatement().execute("CREATE TABLE members_w3 (id int PRIMARY KEY)");
            }
            c.startInstance(3, true);
            awaitSentence(c, 3, "waiting to be added");
            try (MetakoClient ops = c.client(List.of(0, 1, 2))) {
                assertThat(ops.addMember(c.instanceName(3), c.raftAddress(3), c.grpc(3), "membership-it").getApplied())
                        .isTrue();
                ClusterStatus four = c.awaitSettled(SETTLE); // the new one too holds a lease: its round trips pass the gate
                assertThat(c.awaitLogLine(3, 0, "state restored from snapshot", 10_000))
                        .as("the new member received the state by InstallSnapshot (the others' logs were compacted)")
                        .isTrue();
                assertThat(voters(four.getMembersList())).hasSize(4);
                RouterWriter w = writer(c, 3).start();
                awaitWrites(w);
                // its own signed commands count: its verdicts reach the replicated state
                awaitVerdictsOf(c, 0, c.instanceName(3));
                int failures = w.failures.get();
                assertThat(remove(ops, c.instanceName(3)).getApplied()).isTrue();
                awaitFailure(w, failures);
                w.stop();
                assertThat(c.status(3).orElseThrow().getControllerSentence()).startsWith("removed from the Raft group");
                c.killInstance(3);
                assertThat(voters(c.awaitSettled(SETTLE).getMembersList())).hasSize(3);
                int primaryNode = c.nodeIndex(c.status(0).orElseThrow().getPrimary());
                try (Connection conn = c.connectNode(primaryNode);
                     ResultSet rs = conn.createStatement().executeQuery("SELECT count(*) FROM members_w3 WHERE id = ANY ('{"
                             + w.acked.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(","))
                             + "}'::int[])")) {
                    rs.next();
                    assertThat(rs.getInt(1)).as("acknowledged writes through the member that left").isEqualTo(w.acked.size());
                }
            }
            c.close();
            c.deleteFiles();
        }
    }

    /**
     * {@code members remove}, asked again while the answer is that the leader is new (a removed leader hands its
     * leadership over, and the next leader cannot tell for 2 s which members answer).
     */
    private static MutationResponse remove(MetakoClient ops, String id) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (true) {
            try {
                return ops.removeMember(id, "membership-it");
            } catch (MetakoClientException e) {
                if (!e.getMessage().contains("became the Raft leader") || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(500);
            }
        }
    }

    private static RouterWriter writer(ChaosCluster c, int instance) {
        return new RouterWriter(() -> open(c, instance), "members_w" + instance);
    }

    private static Connection open(ChaosCluster c, int instance) throws SQLException {
        java.util.Properties p = new java.util.Properties();
        p.setProperty("user", c.user(ChaosCluster.Port.ROUTER));
        p.setProperty("password", c.password());
        p.setProperty("connectTimeout", "3");
        p.setProperty("socketTimeout", "10");
        return DriverManager.getConnection(c.routerUrl(instance), p);
    }

    /** A fresh INSERT through instance {@code i}'s router: empty when it succeeded, the error otherwise. */
    private static Optional<String> writeThrough(ChaosCluster c, int i) {
        try (Connection conn = open(c, i)) {
            conn.createStatement().execute("INSERT INTO members_w" + i + " (id) VALUES (-1)");
            return Optional.empty();
        } catch (SQLException e) {
            return Optional.of(e.getSQLState() + " " + e.getMessage());
        }
    }

    private static List<String> voters(List<Member> members) {
        return members.stream().filter(m -> m.getMembership().equals("voter")).map(Member::getId).toList();
    }

    private static void awaitSentence(ChaosCluster c, int i, String text) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            Optional<ClusterStatus> s = c.status(i);
            if (s.isPresent()) {
                last = s.get().getControllerSentence();
                if (last.contains(text)) {
                    return;
                }
            }
            Thread.sleep(200);
        }
        throw new AssertionError(c.instanceName(i) + " did not say '" + text + "' within 60 s (last: " + last + ")");
    }

    /** Waits until every writer has acknowledged more ids than when called. */
    private static void awaitWrites(RouterWriter... writers) throws InterruptedException {
        int[] before = new int[writers.length];
        for (int k = 0; k < writers.length; k++) {
            before[k] = writers[k].lastAcked;
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        for (int k = 0; k < writers.length; k++) {
            while (writers[k].lastAcked <= before[k] + 20) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("writer " + k + " acknowledged nothing new within 30 s (failures: "
                            + writers[k].failures.get() + ")");
                }
                Thread.sleep(50);
            }
        }
    }

    /** Waits until instance {@code i}'s status holds a verdict of instance {@code of} on every node: within 15 s. */
    private static void awaitVerdictsOf(ChaosCluster c, int i, String of) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (true) {
            Optional<ClusterStatus> s = c.status(i);
            if (s.isPresent() && s.get().getNodesList().stream().allMatch(n -> n.getVerdictsList().stream()
                    .anyMatch(v -> v.getInstanceId().equals(of)))) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no verdict of " + of + " on every node after 15 s: " + s.map(
                        x -> x.getNodesList().stream().map(n -> n.getNode().getName() + "=" + n.getVerdictsList().stream()
                                .map(v -> v.getInstanceId()).toList()).toList()).orElse(null));
            }
            Thread.sleep(200);
        }
    }

    /** Waits until {@code writer} has failed more than {@code before} times: within 3 s. */
    private static void awaitFailure(RouterWriter writer, int before) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        while (writer.failures.get() <= before) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("writes through a removed instance still went through after 3 s (last "
                        + writer.lastAcked + ")");
            }
            Thread.sleep(20);
        }
    }

    /** Waits until the registry (as instance {@code i} shows it) no longer lists {@code gone}. */
    private static void awaitRetired(ChaosCluster c, int i, Set<String> gone) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        List<String> last = List.of();
        while (System.nanoTime() < deadline) {
            try (MetakoClient client = c.client(i)) {
                ListMembersResponse m = client.members();
                last = m.getMembersList().stream().map(Member::getId).toList();
                if (last.stream().noneMatch(gone::contains)) {
                    return;
                }
            } catch (RuntimeException e) {
                // not answering for a moment
            }
            Thread.sleep(200);
        }
        throw new AssertionError("members still listed after 60 s: " + last + " (expected none of " + gone + ")");
    }
}

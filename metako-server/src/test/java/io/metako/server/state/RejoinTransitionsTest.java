package io.metako.server.state;

import static io.metako.server.state.ClusterTransitionsTest.seeded;
import static io.metako.server.state.FailoverTransitionsTest.apply;
import static io.metako.server.state.FailoverTransitionsTest.role;
import static io.metako.server.state.FailoverTransitionsTest.start;
import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.FailoverCompleted;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRejoin;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.RejoinCompleted;
import io.metako.proto.v1.RejoinFinished;
import io.metako.proto.v1.RejoinStarted;
import io.metako.proto.v1.SetNodeManager;
import io.metako.proto.v1.TopologyEvent;
import org.junit.jupiter.api.Test;

class RejoinTransitionsTest {
    private static Command.Builder by(String proposer, long epoch, long time) {
        return Command.newBuilder().setEpoch(epoch).setTimeMillis(time).setProposer(proposer);
    }

    private static Command manage(String proposer, long epoch, String node) {
        return by(proposer, epoch, 50).setSetNodeManager(SetNodeManager.newBuilder().setNode(node)).build();
    }

    private static Command rejoin(long epoch, String node, long time) {
        return by("m2", epoch, time).setRejoinStarted(RejoinStarted.newBuilder().setNode(node).setMethod("rewind_or_clone")).build();
    }

    private static Command finished(String proposer, long epoch, String node, long attempt, String error, long time) {
        return by(proposer, epoch, time).setRejoinFinished(RejoinFinished.newBuilder().setNode(node).setAttempt(attempt)
                .setError(error)).build();
    }

    private static Command completed(long epoch, String node, boolean adopted, long time) {
        return by("m2", epoch, time).setRejoinCompleted(RejoinCompleted.newBuilder().setNode(node).setAdopted(adopted)
                .setAttempt(adopted ? 0 : 1)).build();
    }

    private static Node node(ClusterState s, String name) {
        return s.getNodesList().stream().filter(n -> n.getName().equals(name)).findFirst().orElseThrow();
    }

    private static String rejection(ClusterState s, Command c) {
        ClusterTransitions.Outcome o = ClusterTransitions.apply(s, c, 7);
        assertThat(o.applied()).as("applied, but should not have been").isFalse();
        assertThat(o.state()).isSameAs(s);
        return o.rejection();
    }

    /** pg-1 failed over to pg-2 (epoch 2) and is quarantined; metako-1 manages pg-1. */
    private static ClusterState quarantined() {
        ClusterState s = apply(seeded(), manage("m1", 1, "pg-1"));
        s = apply(s, start(1, "pg-1", "pg-2"));
        s = apply(s, FailoverTransitionsTest.cmd(2, 200).setFailoverCompleted(FailoverCompleted.newBuilder()
                .setNewPrimary("pg-2").setTimeline(2)).build());
        assertThat(role(s, "pg-1")).isEqualTo(NodeRole.QUARANTINED);
        return s;
    }

    @Test
    void aNodeHasOneManagingInstance() {
        ClusterState s = apply(seeded(), manage("m1", 1, "pg-1"));
        assertThat(node(s, "pg-1").getManagingInstance()).isEqualTo("m1");
        assertThat(apply(s, manage("m1", 1, "pg-1"))).isEqualTo(s);
        assertThat(rejection(s, manage("m2", 1, "pg-1"))).isEqualTo(
                "pg-1 is managed by m1, not m2: only one instance may touch a node's files (instance.manages)");
        assertThat(rejection(s, manage("m2", 1, "pg-9"))).isEqualTo("unknown node 'pg-9'");
    }

    @Test
    void aRejoinRunsStartFinishComplete() {
        ClusterState s = apply(quarantined(), rejoin(2, "pg-1", 300));
        NodeRejoin r = node(s, "pg-1").getRejoin();
        assertThat(r.getAttempt()).isEqualTo(1);
        assertThat(r.getSource()).isEqualTo("pg-2");
        assertThat(r.getEpoch()).isEqualTo(2);
        assertThat(r.getStartedMillis()).isEqualTo(300);
        assertThat(r.getMethod()).isEqualTo("rewind_or_clone");
        assertThat(role(s, "pg-1")).isEqualTo(NodeRole.QUARANTINED);
        assertThat(rejection(s, rejoin(2, "pg-1", 310))).isEqualTo("attempt 1 to rejoin pg-1 is still running on m1");

        s = apply(s, finished("m1", 2, "pg-1", 1, "", 900).toBuilder().setRejoinFinished(RejoinFinished.newBuilder()
                .setNode("pg-1").setAttempt(1).setDoneBy("pg_rewind")).build());
        assertThat(node(s, "pg-1").getRejoin().getFinishedMillis()).isEqualTo(900);
        assertThat(role(s, "pg-1")).as("only the probes' view of it streaming makes it a replica").isEqualTo(NodeRole.QUARANTINED);

        s = apply(s, completed(2, "pg-1", false, 1300));
        assertThat(role(s, "pg-1")).isEqualTo(NodeRole.REPLICA);
        assertThat(node(s, "pg-1").hasRejoin()).isFalse();
        assertThat(node(s, "pg-1").getManagingInstance()).isEqualTo("m1");
        TopologyEvent e = s.getHistory(s.getHistoryCount() - 1);
        assertThat(e.getKind()).isEqualTo(EventKind.REJOIN);
        assertThat(e.getNode()).isEqualTo("pg-1");
        assertThat(e.getStartedMillis()).isEqualTo(300);
        assertThat(e.getTimeMillis()).isEqualTo(1300);
        assertThat(e.getReason()).isEqualTo("pg-1 rejoined pg-2 by pg_rewind (attempt 1)");
        assertThat(s.getEpoch()).as("a rejoin changes no primary").isEqualTo(2);
    }

    @Test
    void onlyTheManagingInstanceReportsOnItsAttempt() {
        ClusterState s = apply(quarantined(), rejoin(2, "pg-1", 300));
        assertThat(rejection(s, finished("m2", 2, "pg-1", 1, "", 900)))
                .isEqualTo("only pg-1's managing instance (m1) reports on its rejoin, not m2");
        assertThat(rejection(s, finished("m1", 2, "pg-1", 2, "", 900)))
                .isEqualTo("attempt 2 to rejoin pg-1 is not running (the node's last attempt is 1)");
        // a report on attempt 1 of an earlier incarnation of the node (removed and added again): another start time
        Command earlier = finished("m1", 2, "pg-1", 1, "", 900);
        assertThat(rejection(s, earlier.toBuilder().setRejoinFinished(earlier.getRejoinFinished().toBuilder()
                .setStartedMillis(250)).build())).contains("is not running");
        assertThat(node(apply(s, earlier.toBuilder().setRejoinFinished(earlier.getRejoinFinished().toBuilder()
                .setStartedMillis(300)).build()), "pg-1").getRejoin().getFinishedMillis()).isEqualTo(900);
        ClusterState failed = apply(s, finished("m1", 2, "pg-1", 1, "pg_rewind: could not find WAL", 900));
        assertThat(node(failed, "pg-1").getRejoin().getError()).isEqualTo("pg_rewind: could not find WAL");
        assertThat(rejection(failed, finished("m1", 2, "pg-1", 1, "", 950))).contains("is not running");
        assertThat(role(apply(failed, completed(2, "pg-1", true, 950)), "pg-1"))
                .as("repaired by hand after a failed attempt: adopted").isEqualTo(NodeRole.REPLICA);
    }

    @Test
    void aFailedAttemptIsFollowedByTheNext() {
        ClusterState s = apply(quarantined(), rejoin(2, "pg-1", 300));
        s = apply(s, finished("m1", 2, "pg-1", 1, "pg_rewind failed", 900));
        s = apply(s, rejoin(2, "pg-1", 5000));
        assertThat(node(s, "pg-1").getRejoin().getAttempt()).isEqualTo(2);
        assertThat(node(s, "pg-1").getRejoin().getError()).isEmpty();
        assertThat(node(s, "pg-1").getRejoin().getFinishedMillis()).isZero();
    }

    @Test
    void onlyAQuarantinedManagedNodeRejoinsAPrimaryThatStays() {
        assertThat(rejection(quarantined(), rejoin(2, "pg-3", 300))).isEqualTo("pg-3 is REPLICA: only a QUARANTINED node rejoins");
        ClusterState unmanaged = apply(seeded(), start(1, "pg-1", "pg-2"));
        unmanaged = apply(unmanaged, FailoverTransitionsTest.cmd(2, 200).setFailoverCompleted(FailoverCompleted.newBuilder()
                .setNewPrimary("pg-2").setTimeline(2)).build());
        assertThat(rejection(unmanaged, rejoin(2, "pg-1", 300)))
                .isEqualTo("no instance manages pg-1 (instance.manages): nothing could carry out its rejoin");
        ClusterState failingOver = apply(quarantined(), start(2, "pg-2", "pg-3"));
        assertThat(rejection(failingOver, rejoin(3, "pg-1", 300))).startsWith("a FAILOVER is in progress");
        assertThat(rejection(quarantined(), by("m2", 2, 300).setRejoinStarted(RejoinStarted.newBuilder().setNode("pg-1")
                .setMethod("rsync")).build())).isEqualTo("rejoin method must be one of [clone, rewind, rewind_or_clone], got 'rsync'");
    }

    @Test
    void aChangeOfPrimaryMakesARunningAttemptStale() {
        ClusterState s = apply(quarantined(), rejoin(2, "pg-1", 300));
        s = apply(s, start(2, "pg-2", "pg-3"));
        s = apply(s, FailoverTransitionsTest.cmd(3, 400).setFailoverCompleted(FailoverCompleted.newBuilder()
                .setNewPrimary("pg-3").setTimeline(3)).build());
        assertThat(rejection(s, finished("m1", 3, "pg-1", 1, "", 500))).contains("is not running");
        assertThat(rejection(s, completed(3, "pg-1", false, 500))).isEqualTo("no rejoin of pg-1 at epoch 3 to complete");
        s = apply(s, rejoin(3, "pg-1", 600));
        assertThat(node(s, "pg-1").getRejoin().getAttempt()).isEqualTo(2);
        assertThat(node(s, "pg-1").getRejoin().getSource()).isEqualTo("pg-3");
    }

    @Test
    void aNodeRepairedByHandIsAdopted() {
        ClusterState s = apply(quarantined(), completed(2, "pg-1", true, 700));
        assertThat(role(s, "pg-1")).isEqualTo(NodeRole.REPLICA);
        TopologyEvent e = s.getHistory(s.getHistoryCount() - 1);
        assertThat(e.getKind()).isEqualTo(EventKind.ADOPTED);
        assertThat(e.getReason()).isEqualTo("pg-1 streams from pg-2 on its timeline: taken back as a replica");
        assertThat(rejection(s, completed(2, "pg-1", true, 800))).isEqualTo("pg-1 is REPLICA, not QUARANTINED: there is nothing to complete");
    }

    @Test
    void aReinitQuarantinesAReplicaAndClonesIt() {
        ClusterState s = apply(seeded(), manage("m3", 1, "pg-3"));
        Command reinit = by("m1", 1, 300).setRejoinStarted(RejoinStarted.newBuilder().setNode("pg-3").setMethod("clone")
                .setReinit(true)).build();
        s = apply(s, reinit);
        assertThat(role(s, "pg-3")).as("no reads, no promotion while it is rebuilt").isEqualTo(NodeRole.QUARANTINED);
        assertThat(node(s, "pg-3").getRejoin().getReinit()).isTrue();
        s = apply(s, finished("m3", 1, "pg-3", 1, "", 900));
        s = apply(s, completed(1, "pg-3", false, 1000));
        assertThat(role(s, "pg-3")).isEqualTo(NodeRole.REPLICA);
        assertThat(s.getHistory(s.getHistoryCount() - 1).getReason()).isEqualTo("pg-3 rebuilt from pg-1 by clone (attempt 1)");

        assertThat(rejection(seeded(), by("m1", 1, 300).setRejoinStarted(RejoinStarted.newBuilder().setNode("pg-1")
                .setMethod("clone").setReinit(true)).build())).isEqualTo("pg-1 is PRIMARY: only a replica (or a quarantined node) is rebuilt by reinit");
        assertThat(rejection(apply(seeded(), manage("m3", 1, "pg-3")), by("m1", 1, 300).setRejoinStarted(
                RejoinStarted.newBuilder().setNode("pg-3").setMethod("rewind").setReinit(true)).build()))
                .isEqualTo("a reinit clones the node afresh: method must be clone, got 'rewind'");
    }

    @Test
    void aCompletionNamesTheFinishedAttemptAndAnAdoptionNeverTakesANodeFromUnderOne() {
        ClusterState running = apply(quarantined(), rejoin(2, "pg-1", 300));
        assertThat(rejection(running, completed(2, "pg-1", false, 400)))
                .isEqualTo("attempt 1 to rejoin pg-1 is not the last one finished without error (the node's last attempt is 1)");
        assertThat(rejection(running, completed(2, "pg-1", true, 400)))
                .isEqualTo("attempt 1 to rejoin pg-1 is running: the node is not taken back from under it");
        ClusterState failed = apply(running, finished("m1", 2, "pg-1", 1, "pg_rewind failed", 900));
        assertThat(rejection(failed, completed(2, "pg-1", false, 950))).contains("is not the last one finished without error");
        ClusterState second = apply(apply(failed, rejoin(2, "pg-1", 1000)), finished("m1", 2, "pg-1", 2, "", 1500));
        assertThat(rejection(second, completed(2, "pg-1", false, 1600)))
                .as("the leader saw attempt 1, the log is at 2").contains("attempt 1 to rejoin pg-1 is not the last one");
        ClusterState done = apply(second, by("m2", 2, 1600).setRejoinCompleted(RejoinCompleted.newBuilder().setNode("pg-1")
                .setAttempt(2)).build());
        assertThat(role(done, "pg-1")).isEqualTo(NodeRole.REPLICA);
    }
}

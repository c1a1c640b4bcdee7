package io.metako.server.state;

import static io.metako.server.state.ClusterTransitionsTest.seeded;
import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EpochAck;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.FailoverAborted;
import io.metako.proto.v1.FailoverCompleted;
import io.metako.proto.v1.FailoverRetargeted;
import io.metako.proto.v1.FailoverStarted;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.SetPaused;
import org.junit.jupiter.api.Test;

class FailoverTransitionsTest {
    static Command.Builder cmd(long epoch, long time) {
        return Command.newBuilder().setEpoch(epoch).setTimeMillis(time).setProposer("m1");
    }

    static Command start(long epoch, String old, String target) {
        return cmd(epoch, 100).setFailoverStarted(FailoverStarted.newBuilder().setKind(EventKind.FAILOVER)
                .setOldPrimary(old).setTarget(target).setReason("pg-1 failed for 3/3 instances")).build();
    }

    static ClusterState apply(ClusterState s, Command c) {
        ClusterTransitions.Outcome o = ClusterTransitions.apply(s, c, 7);
        assertThat(o.applied()).as(o.rejection()).isTrue();
        return o.state();
    }

    static NodeRole role(ClusterState s, String name) {
        return s.getNodesList().stream().filter(n -> n.getName().equals(name)).map(Node::getRole).findFirst().orElseThrow();
    }

    @Test
    void startMovesTheEpochAndLeavesNoPrimary() {
        ClusterState s = apply(seeded(), start(1, "pg-1", "pg-2"));
        assertThat(s.getEpoch()).isEqualTo(2);
        assertThat(s.getPrimary()).isEmpty();
        assertThat(s.getOperation().getTarget()).isEqualTo("pg-2");
        assertThat(s.getOperation().getEpoch()).isEqualTo(2);
        assertThat(s.getOperation().getTerm()).isEqualTo(7);
        assertThat(role(s, "pg-2")).isEqualTo(NodeRole.CANDIDATE);
    }

    @Test
    void aStaleLeadersDecisionIsHarmless() {
        ClusterState s = apply(seeded(), start(1, "pg-1", "pg-2"));
        ClusterTransitions.Outcome again = ClusterTransitions.apply(s, start(1, "pg-1", "pg-3"), 8);
        assertThat(again.applied()).isFalse();
        assertThat(again.rejection()).contains("stale epoch");
        ClusterTransitions.Outcome second = ClusterTransitions.apply(s, start(2, "pg-1", "pg-3"), 8);
        assertThat(second.applied()).isFalse();
        assertThat(second.rejection()).contains("already in progress");
    }

    @Test
    void startRejectsAWrongOldPrimaryOrTarget() {
        assertThat(ClusterTransitions.apply(seeded(), start(1, "pg-2", "pg-3"), 1).rejection()).contains("is not the primary");
        assertThat(ClusterTransitions.apply(seeded(), start(1, "pg-1", "pg-1"), 1).rejection()).contains("is not a replica");
        assertThat(ClusterTransitions.apply(seeded(), start(1, "pg-1", "pg-9"), 1).rejection()).contains("is not a replica");
    }

    @Test
    void aFailoverCompletesOnlyToTheTargetItsLogNames() {
        ClusterState s = apply(seeded(), start(1, "pg-1", "pg-2"));
        ClusterTransitions.Outcome other = ClusterTransitions.apply(s, cmd(2, 150)
                .setFailoverCompleted(FailoverCompleted.newBuilder().setNewPrimary("pg-3").setTimeline(2)).build(), 7);
        assertThat(other.applied()).isFalse();
        assertThat(other.rejection()).contains("'pg-3' is not the target of the FAILOVER in progress (pg-2)");

        s = apply(s, cmd(2, 160).setFailoverRetargeted(FailoverRetargeted.newBuilder().setTarget("pg-3")
                .setReason("pg-2 is FAILED by majority")).build());
        assertThat(s.getOperation().getTarget()).isEqualTo("pg-3");
        assertThat(s.getOperation().getReason()).endsWith("target moved to pg-3: pg-2 is FAILED by majority");
        assertThat(role(s, "pg-3")).isEqualTo(NodeRole.CANDIDATE);
        assertThat(role(s, "pg-2")).isEqualTo(NodeRole.REPLICA);
        s = apply(s, cmd(2, 170).setFailoverCompleted(FailoverCompleted.newBuilder().setNewPrimary("pg-3").setTimeline(2)
                .setFence("confirmed (read-only, 2 client sessions ended)")).build());
        assertThat(s.getPrimary()).isEqualTo("pg-3");
        assertThat(s.getHistoryList()).last().satisfies(e -> assertThat(e.getFence())
                .as("the history says what became of the old primary").isEqualTo("confirmed (read-only, 2 client sessions ended)"));
    }

    @Test
    void aTargetAnOperatorNamedIsNeverMoved() {
        Command named = cmd(1, 100).setFailoverStarted(start(1, "pg-1", "pg-2").getFailoverStarted().toBuilder()
                .setRequested(true)).build();
        ClusterState s = apply(seeded(), named);
        ClusterTransitions.Outcome moved = ClusterTransitions.apply(s, cmd(2, 160).setFailoverRetargeted(
                FailoverRetargeted.newBuilder().setTarget("pg-3")).build(), 7);
        assertThat(moved.applied()).isFalse();
        assertThat(moved.rejection()).contains("an operator asked for pg-2 by name");
    }

    @Test
    void acksAccumulateOnceEachInOrder() {
        ClusterState s = apply(seeded(), start(1, "pg-1", "pg-2"));
        s = apply(s, cmd(2, 101).setEpochAck(EpochAck.newBuilder().setInstanceId("m3")).build());
        s = apply(s, cmd(2, 102).setEpochAck(EpochAck.newBuilder().setInstanceId("m1")).build());
        s = apply(s, cmd(2, 103).setEpochAck(EpochAck.newBuilder().setInstanceId("m3")).build());
        assertThat(s.getOperation().getAckedInstancesList()).containsExactly("m1", "m3");
        assertThat(ClusterTransitions.apply(seeded(), cmd(1, 1).setEpochAck(EpochAck.newBuilder().setInstanceId("m1")).build(), 1)
                .rejection()).contains("no operation in progress");
        assertThat(ClusterTransitions.apply(s, cmd(1, 1).setEpochAck(EpochAck.newBuilder().setInstanceId("m2")).build(), 1)
                .rejection()).contains("stale epoch");
    }

    @Test
    void completionMakesTheNewPrimaryAndQuarantinesTheOldOneWithHistory() {
        ClusterState s = apply(seeded(), start(1, "pg-1", "pg-2"));
        s = apply(s, cmd(2, 500).setFailoverCompleted(FailoverCompleted.newBuilder().setNewPrimary("pg-2").setTimeline(2)).build());
        assertThat(s.getEpoch()).isEqualTo(2);
        assertThat(s.getPrimary()).isEqualTo("pg-2");
        assertThat(s.hasOperation()).isFalse();
        assertThat(role(s, "pg-1")).isEqualTo(NodeRole.QUARANTINED);
        assertThat(role(s, "pg-2")).isEqualTo(NodeRole.PRIMARY);
        assertThat(role(s, "pg-3")).isEqualTo(NodeRole.REPLICA);
        assertThat(s.getHistory(s.getHistoryCount() - 1)).satisfies(e -> {
            assertThat(e.getKind()).isEqualTo(EventKind.FAILOVER);
            assertThat(e.getOldPrimary()).isEqualTo("pg-1");
            assertThat(e.getNewPrimary()).isEqualTo("pg-2");
            assertThat(e.getEpoch()).isEqualTo(2);
            assertThat(e.getTimeMillis()).isEqualTo(500);
            assertThat(e.getStartedMillis()).isEqualTo(100);
            assertThat(e.getReason()).isEqualTo("pg-1 failed for 3/3 instances");
        });
    }

    @Test
    void completionRejectsTheOldPrimaryAndUnknownNodes() {
        ClusterState s = apply(seeded(), start(1, "pg-1", "pg-2"));
        assertThat(ClusterTransitions.apply(s, cmd(2, 1).setFailoverCompleted(FailoverCompleted.newBuilder().setNewPrimary("pg-1")).build(), 1)
                .rejection()).contains("cannot become the primary");
        assertThat(ClusterTransitions.apply(s, cmd(2, 1).setFailoverCompleted(FailoverCompleted.newBuilder().setNewPrimary("pg-7")).build(), 1)
                .rejection()).contains("cannot become the primary");
        assertThat(ClusterTransitions.apply(seeded(), cmd(1, 1).setFailoverCompleted(FailoverCompleted.newBuilder().setNewPrimary("pg-2")).build(), 1)
                .rejection()).contains("no failover in progress");
    }

    @Test
    void abortReturnsTheOldPrimaryAtTheNextEpoch() {
        ClusterState s = apply(seeded(), start(1, "pg-1", "pg-2"));
        s = apply(s, cmd(2, 600).setFailoverAborted(FailoverAborted.newBuilder().setReason("no candidate")).build());
        assertThat(s.getEpoch()).isEqualTo(3);
        assertThat(s.getPrimary()).isEqualTo("pg-1");
        assertThat(role(s, "pg-2")).isEqualTo(NodeRole.REPLICA);
        assertThat(s.hasOperation()).isFalse();
        assertThat(s.getHistory(s.getHistoryCount() - 1).getReason()).isEqualTo("aborted: no candidate");
    }

    @Test
    void anOperatorsAbortAppliesOnlyWhileTheTargetTheySawIsTheTarget() {
        ClusterState s = apply(seeded(), start(1, "pg-1", "pg-2"));
        assertThat(ClusterTransitions.apply(s, cmd(2, 600).setFailoverAborted(FailoverAborted.newBuilder()
                .setReason("asked by an operator").setTarget("pg-3")).build(), 1).rejection())
                .contains("now targets pg-2, not pg-3");
        s = apply(s, cmd(2, 600).setFailoverAborted(FailoverAborted.newBuilder().setReason("asked by an operator")
                .setTarget("pg-2")).build());
        assertThat(s.getPrimary()).isEqualTo("pg-1");
        assertThat(s.getEpoch()).isEqualTo(3);
    }

    @Test
    void pauseAndResume() {
        ClusterState s = apply(seeded(), cmd(1, 9).setSetPaused(SetPaused.newBuilder().setPaused(true)).build());
        assertThat(s.getPaused()).isTrue();
        s = apply(s, cmd(1, 10).setSetPaused(SetPaused.newBuilder().setPaused(false)).build());
        assertThat(s.getPaused()).isFalse();
    }

    @Test
    void historyKeepsTheNewestHundredEvents() {
        ClusterState s = seeded();
        for (int i = 0; i < 120; i++) {
            String old = s.getPrimary();
            String target = old.equals("pg-2") ? "pg-3" : "pg-2";
            s = s.toBuilder().clearNodes().addAllNodes(s.getNodesList().stream().map(n -> n.toBuilder()
                    .setRole(n.getName().equals(old) ? NodeRole.PRIMARY : NodeRole.REPLICA).build()).toList()).build();
            s = apply(s, start(s.getEpoch(), old, target));
            s = apply(s, cmd(s.getEpoch(), i).setFailoverCompleted(FailoverCompleted.newBuilder().setNewPrimary(target)).build());
        }
        assertThat(s.getHistoryCount()).isEqualTo(FailoverTransitions.HISTORY_LIMIT);
        assertThat(s.getHistory(s.getHistoryCount() - 1).getEpoch()).isEqualTo(121);
    }
}

package io.metako.server.state;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.EpochAck;
import io.metako.proto.v1.FailoverAborted;
import io.metako.proto.v1.FailoverCompleted;
import io.metako.proto.v1.FailoverRetargeted;
import io.metako.proto.v1.FailoverStarted;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.Operation;
import io.metako.proto.v1.OperationStep;
import io.metako.proto.v1.TopologyEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The state changes of a failover or switchover, part of {@link ClusterTransitions}: start
 * (epoch e -> e+1, no primary), acknowledgements, completion (new primary, old one
 * quarantined) and abort (old primary back at e+2). Pure, like the rest of apply.
 */
final class FailoverTransitions {
    /** How many topology events the state keeps. */
    static final int HISTORY_LIMIT = 100;

    private FailoverTransitions() {
    }

    static ClusterTransitions.Outcome started(ClusterState state, FailoverStarted f, long time, long term) {
        if (!state.getSeeded()) {
            return ClusterTransitions.Outcome.rejected(state, "not seeded yet");
        }
        if (state.hasOperation()) {
            return ClusterTransitions.Outcome.rejected(state, "a " + state.getOperation().getKind()
                    + " to " + state.getOperation().getTarget() + " is already in progress");
        }
        if (!f.getOldPrimary().equals(state.getPrimary())) {
            return ClusterTransitions.Outcome.rejected(state, "'" + f.getOldPrimary() + "' is not the primary ("
                    + (state.getPrimary().isEmpty() ? "there is none" : state.getPrimary()) + ")");
        }
        Optional<Node> target = node(state, f.getTarget());
        if (target.isEmpty() || target.get().getRole() != NodeRole.REPLICA) {
            return ClusterTransitions.Outcome.rejected(state, "target '" + f.getTarget() + "' is not a replica");
        }
        long epoch = state.getEpoch() + 1;
        Operation op = Operation.newBuilder().setKind(f.getKind()).setStep(OperationStep.STARTED)
                .setTarget(f.getTarget()).setEpoch(epoch).setOldPrimary(f.getOldPrimary()).setReason(f.getReason())
                .setStartedMillis(time).setTerm(term).addAllCandidates(f.getCandidatesList())
                .setForced(f.getForced()).setRequested(f.getRequested()).build();
        return ClusterTransitions.Outcome.applied(state.toBuilder().setEpoch(epoch).setPrimary("")
                .setOperation(op).clearNodes().addAllNodes(withRole(state, f.getTarget(), NodeRole.CANDIDATE))
                .setLastChangeMillis(time).build());
    }

    static ClusterTransitions.Outcome ack(ClusterState state, EpochAck ack) {
        if (!state.hasOperation()) {
            return ClusterTransitions.Outcome.rejected(state, "no operation in progress to acknowledge");
        }
        if (ack.getInstanceId().isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, "acknowledgement without an instance id");
        }
        if (state.getOperation().getAckedInstancesList().contains(ack.getInstanceId())) {
            return ClusterTransitions.Outcome.applied(state);
        }
        List<String> acked = new ArrayList<>(state.getOperation().getAckedInstancesList());
        acked.add(ack.getInstanceId());
        acked.sort(String::compareTo);
        Operation op = state.getOperation().toBuilder().clearAckedInstances().addAllAckedInstances(acked).build();
        return ClusterTransitions.Outcome.applied(state.toBuilder().setOperation(op).build());
    }

    static ClusterTransitions.Outcome completed(ClusterState state, FailoverCompleted c, long time, long term) {
        if (!state.hasOperation()) {
            return ClusterTransitions.Outcome.rejected(state, "no failover in progress to complete");
        }
        Operation op = state.getOperation();
        Optional<Node> promoted = node(state, c.getNewPrimary());
        if (promoted.isEmpty() || c.getNewPrimary().equals(op.getOldPrimary())
                || (promoted.get().getRole() != NodeRole.CANDIDATE && promoted.get().getRole() != NodeRole.REPLICA)) {
            return ClusterTransitions.Outcome.rejected(state, "'" + c.getNewPrimary() + "' cannot become the primary");
        }
        if (!c.getNewPrimary().equals(op.getTarget())) {
            return ClusterTransitions.Outcome.rejected(state, "'" + c.getNewPrimary() + "' is not the target of the "
                    + op.getKind() + " in progress (" + op.getTarget() + "); a failover completes only to its target");
        }
        List<Node> nodes = new ArrayList<>();
        for (Node n : state.getNodesList()) {
            Node.Builder b = n.toBuilder();
            if (n.getName().equals(c.getNewPrimary())) {
                b.setRole(NodeRole.PRIMARY).setTimeline(c.getTimeline());
            } else if (n.getName().equals(op.getOldPrimary())) {
                b.setRole(NodeRole.QUARANTINED);
            } else if (n.getRole() == NodeRole.CANDIDATE) {
                b.setRole(NodeRole.REPLICA);
            }
            nodes.add(b.build());
        }
        TopologyEvent event = TopologyEvent.newBuilder().setKind(op.getKind()).setTimeMillis(time).setTerm(term)
                .setEpoch(state.getEpoch()).setReason(op.getReason()).setOldPrimary(op.getOldPrimary())
                .setNewPrimary(c.getNewPrimary()).addAllCandidates(op.getCandidatesList())
                .setStartedMillis(op.getStartedMillis()).setFence(c.getFence()).build();
        return ClusterTransitions.Outcome.applied(state.toBuilder().setPrimary(c.getNewPrimary()).clearOperation()
                .clearNodes().addAllNodes(nodes).clearHistory().addAllHistory(appended(state, event))
                .setLastChangeMillis(time).build());
    }

    static ClusterTransitions.Outcome retargeted(ClusterState state, FailoverRetargeted r) {
        if (!state.hasOperation()) {
            return ClusterTransitions.Outcome.rejected(state, "no failover in progress to retarget");
        }
        Operation op = state.getOperation();
        if (op.getRequested()) {
            return ClusterTransitions.Outcome.rejected(state, "an operator asked for " + op.getTarget()
                    + " by name: this " + op.getKind() + " promotes no other node");
        }
        Optional<Node> next = node(state, r.getTarget());
        if (next.isEmpty() || next.get().getRole() != NodeRole.REPLICA) {
            return ClusterTransitions.Outcome.rejected(state, "new target '" + r.getTarget() + "' is not a replica");
        }
        List<Node> nodes = new ArrayList<>();
        for (Node n : state.getNodesList()) {
            Node.Builder b = n.toBuilder();
            if (n.getName().equals(r.getTarget())) {
                b.setRole(NodeRole.CANDIDATE);
            } else if (n.getRole() == NodeRole.CANDIDATE) {
                b.setRole(NodeRole.REPLICA);
            }
            nodes.add(b.build());
        }
        Operation retargeted = op.toBuilder().setTarget(r.getTarget())
                .setReason(op.getReason() + "; target moved to " + r.getTarget() + ": " + r.getReason()).build();
        return ClusterTransitions.Outcome.applied(state.toBuilder().setOperation(retargeted).clearNodes().addAllNodes(nodes)
                .build());
    }

    static ClusterTransitions.Outcome aborted(ClusterState state, FailoverAborted a, long time, long term) {
        if (!state.hasOperation()) {
            return ClusterTransitions.Outcome.rejected(state, "no failover in progress to abort");
        }
        Operation op = state.getOperation();
        if (!a.getTarget().isEmpty() && !a.getTarget().equals(op.getTarget())) {
            return ClusterTransitions.Outcome.rejected(state, "the " + op.getKind() + " in progress now targets "
                    + op.getTarget() + ", not " + a.getTarget() + ": look at the status again before aborting");
        }
        long epoch = state.getEpoch() + 1;
        List<Node> nodes = new ArrayList<>();
        for (Node n : state.getNodesList()) {
            nodes.add(n.getRole() == NodeRole.CANDIDATE ? n.toBuilder().setRole(NodeRole.REPLICA).build() : n);
        }
        TopologyEvent event = TopologyEvent.newBuilder().setKind(op.getKind()).setTimeMillis(time).setTerm(term)
                .setEpoch(epoch).setReason("aborted: " + a.getReason()).setOldPrimary(op.getOldPrimary())
                .setNewPrimary(op.getOldPrimary()).addAllCandidates(op.getCandidatesList())
                .setStartedMillis(op.getStartedMillis()).build();
        return ClusterTransitions.Outcome.applied(state.toBuilder().setEpoch(epoch).setPrimary(op.getOldPrimary())
                .clearOperation().clearNodes().addAllNodes(nodes).clearHistory().addAllHistory(appended(state, event))
                .setLastChangeMillis(time).build());
    }

    private static Optional<Node> node(ClusterState state, String name) {
        return Nodes.named(state, name);
    }

    private static List<Node> withRole(ClusterState state, String name, NodeRole role) {
        return state.getNodesList().stream().map(n -> n.getName().equals(name) ? n.toBuilder().setRole(role).build() : n)
                .toList();
    }

    static List<TopologyEvent> appended(ClusterState state, TopologyEvent event) {
        List<TopologyEvent> history = new ArrayList<>(state.getHistoryList());
        history.add(event);
        return history.size() <= HISTORY_LIMIT ? history : history.subList(history.size() - HISTORY_LIMIT, history.size());
    }
}

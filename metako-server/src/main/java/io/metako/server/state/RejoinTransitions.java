package io.metako.server.state;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRejoin;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.RejoinCompleted;
import io.metako.proto.v1.RejoinFinished;
import io.metako.proto.v1.RejoinStarted;
import io.metako.proto.v1.TopologyEvent;
import java.util.Optional;

/**
 * The state changes that bring a quarantined old primary back, part of {@link ClusterTransitions}: which
 * instance manages a node's files, a rejoin started by the leader, finished by that instance, completed by the
 * leader once the node streams from the primary. Pure, like the rest of apply.
 */
final class RejoinTransitions {
    /** The methods a rejoin may use. */
    static final java.util.Set<String> METHODS = java.util.Set.copyOf(io.metako.server.config.RejoinConfig.METHODS);

    private RejoinTransitions() {
    }

    /** Whether {@code r} is a rejoin of the current epoch whose managing instance has not reported yet. */
    static boolean running(ClusterState state, NodeRejoin r) {
        return r.getAttempt() > 0 && r.getEpoch() == state.getEpoch() && r.getFinishedMillis() == 0;
    }

    static ClusterTransitions.Outcome setManager(ClusterState state, String node, String proposer, long time) {
        if (!state.getSeeded()) {
            return ClusterTransitions.Outcome.rejected(state, "not seeded yet");
        }
        Optional<Node> n = node(state, node);
        if (n.isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, "unknown node '" + node + "'");
        }
        if (proposer.isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, "a node manager without an instance id");
        }
        String current = n.get().getManagingInstance();
        if (current.equals(proposer)) {
            return ClusterTransitions.Outcome.applied(state);
        }
        if (!current.isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, node + " is managed by " + current + ", not " + proposer
                    + ": only one instance may touch a node's files (instance.manages)");
        }
        return ClusterTransitions.Outcome.applied(replace(state, n.get().toBuilder().setManagingInstance(proposer).build())
                .toBuilder().setLastChangeMillis(time).build());
    }

    static ClusterTransitions.Outcome started(ClusterState state, RejoinStarted r, long time, long term) {
        if (!state.getSeeded()) {
            return ClusterTransitions.Outcome.rejected(state, "not seeded yet");
        }
        if (state.hasOperation()) {
            return ClusterTransitions.Outcome.rejected(state, "a " + state.getOperation().getKind() + " is in progress:"
                    + " a node rejoins only a primary that stays");
        }
        if (state.getPrimary().isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, "there is no primary to rejoin");
        }
        Optional<Node> n = node(state, r.getNode());
        if (n.isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, "unknown node '" + r.getNode() + "'");
        }
        if (r.getReinit() && n.get().getRole() != NodeRole.REPLICA && n.get().getRole() != NodeRole.QUARANTINED) {
            return ClusterTransitions.Outcome.rejected(state, r.getNode() + " is " + n.get().getRole()
                    + ": only a replica (or a quarantined node) is rebuilt by reinit");
        }
        if (!r.getReinit() && n.get().getRole() != NodeRole.QUARANTINED) {
            return ClusterTransitions.Outcome.rejected(state, r.getNode() + " is " + n.get().getRole()
                    + ": only a QUARANTINED node rejoins");
        }
        if (r.getReinit() && !r.getMethod().equals("clone")) {
            return ClusterTransitions.Outcome.rejected(state, "a reinit clones the node afresh: method must be clone, got '"
                    + r.getMethod() + "'");
        }
        if (r.getReinit() && "sync".equals(state.getSettings().getReplication().getMode())
                && state.getSynchronousStandbysList().contains(r.getNode())
                && state.getSynchronousStandbysCount() - 1 < state.getSettings().getReplication().getSyncStandbys()) {
            return ClusterTransitions.Outcome.rejected(state, r.getNode() + " is one of the synchronous standbys "
                    + state.getSynchronousStandbysList() + " that commits wait for (ANY "
                    + state.getSettings().getReplication().getSyncStandbys() + "): without it commits would block");
        }
        if (n.get().getManagingInstance().isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, "no instance manages " + r.getNode()
                    + " (instance.manages): nothing could carry out its rejoin");
        }
        if (!METHODS.contains(r.getMethod())) {
            return ClusterTransitions.Outcome.rejected(state, "rejoin method must be one of " + METHODS.stream().sorted()
                    .toList() + ", got '" + r.getMethod() + "'");
        }
        NodeRejoin last = n.get().getRejoin();
        if (running(state, last)) {
            return ClusterTransitions.Outcome.rejected(state, "attempt " + last.getAttempt() + " to rejoin " + r.getNode()
                    + " is still running on " + n.get().getManagingInstance());
        }
        NodeRejoin next = NodeRejoin.newBuilder().setAttempt(last.getAttempt() + 1).setMethod(r.getMethod())
                .setSource(state.getPrimary()).setEpoch(state.getEpoch()).setStartedMillis(time).setTerm(term)
                .setReinit(r.getReinit()).build();
        // a replica being rebuilt takes no reads and is promoted by nobody until it streams again
        return ClusterTransitions.Outcome.applied(replace(state, n.get().toBuilder().setRejoin(next)
                        .setRole(NodeRole.QUARANTINED).build())
                .toBuilder().setLastChangeMillis(time).build());
    }

    static ClusterTransitions.Outcome finished(ClusterState state, RejoinFinished f, String proposer, long time) {
        Optional<Node> n = node(state, f.getNode());
        if (n.isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, "unknown node '" + f.getNode() + "'");
        }
        if (!n.get().getManagingInstance().equals(proposer)) {
            return ClusterTransitions.Outcome.rejected(state, "only " + f.getNode() + "'s managing instance ("
                    + (n.get().getManagingInstance().isEmpty() ? "none" : n.get().getManagingInstance())
                    + ") reports on its rejoin, not " + proposer);
        }
        NodeRejoin r = n.get().getRejoin();
        if (r.getAttempt() != f.getAttempt() || !running(state, r)
                || (f.getStartedMillis() != 0 && f.getStartedMillis() != r.getStartedMillis())) {
            return ClusterTransitions.Outcome.rejected(state, "attempt " + f.getAttempt() + " to rejoin " + f.getNode()
                    + " is not running (the node's last attempt is " + r.getAttempt() + ")");
        }
        NodeRejoin done = r.toBuilder().setFinishedMillis(Math.max(1, time)).setError(f.getError())
                .setDoneBy(f.getDoneBy()).setPostmasterStartMicros(f.getPostmasterStartMicros()).build();
        return ClusterTransitions.Outcome.applied(replace(state, n.get().toBuilder().setRejoin(done).build())
                .toBuilder().setLastChangeMillis(time).build());
    }

    static ClusterTransitions.Outcome completed(ClusterState state, RejoinCompleted c, long time, long term) {
        if (state.hasOperation()) {
            return ClusterTransitions.Outcome.rejected(state, "a " + state.getOperation().getKind() + " is in progress");
        }
        Optional<Node> n = node(state, c.getNode());
        if (n.isEmpty()) {
            return ClusterTransitions.Outcome.rejected(state, "unknown node '" + c.getNode() + "'");
        }
        if (n.get().getRole() != NodeRole.QUARANTINED) {
            return ClusterTransitions.Outcome.rejected(state, c.getNode() + " is " + n.get().getRole()
                    + ", not QUARANTINED: there is nothing to complete");
        }
        NodeRejoin r = n.get().getRejoin();
        boolean ours = !c.getAdopted() && r.getAttempt() > 0 && r.getEpoch() == state.getEpoch();
        if (!c.getAdopted() && !ours) {
            return ClusterTransitions.Outcome.rejected(state, "no rejoin of " + c.getNode() + " at epoch "
                    + state.getEpoch() + " to complete");
        }
        if (ours && (r.getAttempt() != c.getAttempt() || r.getFinishedMillis() == 0 || !r.getError().isEmpty())) {
            return ClusterTransitions.Outcome.rejected(state, "attempt " + c.getAttempt() + " to rejoin " + c.getNode()
                    + " is not the last one finished without error (the node's last attempt is " + r.getAttempt() + ")");
        }
        if (c.getAdopted() && running(state, r)) {
            return ClusterTransitions.Outcome.rejected(state, "attempt " + r.getAttempt() + " to rejoin " + c.getNode()
                    + " is running: the node is not taken back from under it");
        }
        String reason = ours
                ? c.getNode() + (r.getReinit() ? " rebuilt from " : " rejoined ") + state.getPrimary() + " by " + (r.getDoneBy().isEmpty() ? r.getMethod()
                        : r.getDoneBy()) + " (attempt " + r.getAttempt() + ")"
                : c.getNode() + " streams from " + state.getPrimary() + " on its timeline: taken back as a replica";
        TopologyEvent event = TopologyEvent.newBuilder().setKind(ours ? EventKind.REJOIN : EventKind.ADOPTED)
                .setTimeMillis(time).setTerm(term).setEpoch(state.getEpoch()).setReason(reason)
                .setNewPrimary(state.getPrimary()).setNode(c.getNode())
                .setStartedMillis(ours ? r.getStartedMillis() : time).build();
        Node back = n.get().toBuilder().setRole(NodeRole.REPLICA).clearRejoin().build();
        ClusterState next = replace(state, back);
        return ClusterTransitions.Outcome.applied(next.toBuilder().clearHistory()
                .addAllHistory(FailoverTransitions.appended(state, event)).setLastChangeMillis(time).build());
    }

    private static Optional<Node> node(ClusterState state, String name) {
        return Nodes.named(state, name);
    }

    private static ClusterState replace(ClusterState state, Node node) {
        return Nodes.replaced(state, node);
    }
}

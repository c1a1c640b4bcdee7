package io.metako.server.state;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.ReportVerdict;
import io.metako.proto.v1.SeedCluster;
import io.metako.proto.v1.TopologyEvent;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The pure heart of the replicated state machine: {@code apply(state, command)} returns the next
 * state or a rejection. No clock, no I/O: times travel inside the command, so every instance
 * computes the same state from the same log. The same function validates commands on the
 * leader before they are replicated.
 */
public final class ClusterTransitions {
    private ClusterTransitions() {
    }

    /** The outcome of applying one command: the next state, or the unchanged state and why not. */
    public record Outcome(ClusterState state, boolean applied, String rejection) {
        static Outcome applied(ClusterState next) {
            return new Outcome(next, true, "");
        }

        static Outcome rejected(ClusterState unchanged, String why) {
            return new Outcome(unchanged, false, why);
        }
    }

    /**
     * Applies {@code command}, appended to the log in Raft {@code term} (0 when only validating it). A
     * controller's command carries the term it was decided in and is rejected in any other.
     */
    public static Outcome apply(ClusterState state, Command command, long term) {
        String replay = CommandSequences.replay(state, command);
        if (replay != null) {
            return Outcome.rejected(state, replay);
        }
        if (command.getProposerTerm() != 0 && term != 0 && command.getProposerTerm() != term) {
            // a deposed leader's decision reached the log through the new leader: it decided on a view
            // that may be out of date, so it counts for nothing
            return Outcome.rejected(state, "stale leader: decided in Raft term " + command.getProposerTerm()
                    + " but appended in term " + term);
        }
        if (command.getEpoch() != state.getEpoch()) {
            return Outcome.rejected(state, "stale epoch: command was decided at epoch " + command.getEpoch()
                    + " but the cluster is at epoch " + state.getEpoch());
        }
        return switch (command.getKindCase()) {
            case SEED -> seed(state, command.getSeed(), command.getTimeMillis(), term);
            case REPORT_VERDICT -> reportVerdict(state, command.getReportVerdict(), command.getTimeMillis());
            case FAILOVER_STARTED -> FailoverTransitions.started(state, command.getFailoverStarted(),
                    command.getTimeMillis(), term);
            case EPOCH_ACK -> FailoverTransitions.ack(state, command.getEpochAck());
            case FAILOVER_COMPLETED -> FailoverTransitions.completed(state, command.getFailoverCompleted(),
                    command.getTimeMillis(), term);
            case FAILOVER_ABORTED -> FailoverTransitions.aborted(state, command.getFailoverAborted(),
                    command.getTimeMillis(), term);
            case FAILOVER_RETARGETED -> FailoverTransitions.retargeted(state, command.getFailoverRetargeted());
            case SET_PAUSED -> setPaused(state, command.getSetPaused(), command.getTimeMillis());
            case SET_SYNCHRONOUS_STANDBYS -> setSynchronous(state, command.getSetSynchronousStandbys().getNamesList(),
                    command.getTimeMillis());
            case SET_NODE_MANAGER -> RejoinTransitions.setManager(state, command.getSetNodeManager().getNode(),
                    command.getProposer(), command.getTimeMillis());
            case REJOIN_STARTED -> RejoinTransitions.started(state, command.getRejoinStarted(), command.getTimeMillis(), term);
            case REJOIN_FINISHED -> RejoinTransitions.finished(state, command.getRejoinFinished(), command.getProposer(),
                    command.getTimeMillis());
            case REJOIN_COMPLETED -> RejoinTransitions.completed(state, command.getRejoinCompleted(),
                    command.getTimeMillis(), term);
            case SET_CLUSTER_SETTINGS -> setSettings(state, command, term);
            case ADD_NODE -> NodeTransitions.add(state, command, term);
            case REMOVE_NODE -> NodeTransitions.remove(state, command, term);
            case REGISTER_INSTANCE -> MemberTransitions.register(state, command, term);
            case RETIRE_INSTANCE -> MemberTransitions.retire(state, command, term);
            case KIND_NOT_SET -> Outcome.rejected(state, "empty command: no kind is set");
        };
    }

    private static Outcome setSynchronous(ClusterState state, List<String> names, long time) {
        if (!state.getSeeded()) {
            return Outcome.rejected(state, "not seeded yet");
        }
        for (String n : names) {
            if (state.getNodesList().stream().noneMatch(x -> x.getName().equals(n))) {
                return Outcome.rejected(state, "unknown node '" + n + "' in the synchronous set");
            }
        }
        List<String> sorted = names.stream().distinct().sorted().toList();
        if (sorted.equals(state.getSynchronousStandbysList())) {
            return Outcome.applied(state);
        }
        return Outcome.applied(state.toBuilder().clearSynchronousStandbys().addAllSynchronousStandbys(sorted)
                .setLastChangeMillis(time).build());
    }

    private static Outcome setPaused(ClusterState state, io.metako.proto.v1.SetPaused p, long time) {
        if (!state.getSeeded()) {
            return Outcome.rejected(state, "not seeded yet");
        }
        if (state.getPaused() == p.getPaused()) {
            return Outcome.applied(state);
        }
        return Outcome.applied(state.toBuilder().setPaused(p.getPaused()).setLastChangeMillis(time).build());
    }

    /**
     * New cluster-wide settings, checked by the proposer against the file's rules; refused when the settings in
     * force are no longer the ones it changed (another change landed first: applying this one would undo it).
     */
    private static Outcome setSettings(ClusterState state, Command command, long term) {
        io.metako.proto.v1.SetClusterSettings c = command.getSetClusterSettings();
        if (!state.getSeeded()) {
            return Outcome.rejected(state, "not seeded yet");
        }
        if (!c.hasSettings() || !c.hasExpected()) {
            return Outcome.rejected(state, "a settings change names the settings it replaces and the new ones");
        }
        if (!state.getSettings().equals(c.getExpected())) {
            return Outcome.rejected(state, "the cluster-wide settings changed since this change was computed (another"
                    + " change landed first); look at metakoctl config show and run it again");
        }
        // the rules safety rests on, checked by every instance whoever proposed the change (stable across versions)
        List<String> problems = SettingsInvariants.problems(state, c.getSettings());
        if (!problems.isEmpty()) {
            return Outcome.rejected(state, "the new settings do not hold: " + String.join("; ", problems));
        }
        // the changes as the proposer listed them (text for people: formatting is the proposer's version's)
        List<String> what = c.getChangesList().stream()
                .map(x -> x.getKey() + " " + x.getOldValue() + " -> " + x.getNewValue()).toList();
        TopologyEvent event = TopologyEvent.newBuilder().setKind(EventKind.SETTINGS_CHANGED)
                .setTimeMillis(command.getTimeMillis()).setTerm(term).setEpoch(state.getEpoch())
                .addAllChanges(c.getChangesList()).setRequestedBy(c.getRequestedBy()).setInstance(command.getProposer())
                .setReason("settings changed" + (c.getRequestedBy().isEmpty() ? "" : " by " + c.getRequestedBy())
                        + " through " + command.getProposer() + ": " + String.join(", ", what))
                .build();
        return Outcome.applied(state.toBuilder().setSettings(c.getSettings()).clearHistory()
                .addAllHistory(FailoverTransitions.appended(state, event)).setLastChangeMillis(command.getTimeMillis())
                .build());
    }

    private static Outcome seed(ClusterState state, SeedCluster seed, long time, long term) {
        if (state.getSeeded()) {
            return Outcome.rejected(state, "already seeded: the cluster-wide settings live in the replicated state");
        }
        if (seed.getNodesCount() == 0) {
            return Outcome.rejected(state, "seed has no nodes");
        }
        Set<String> names = new HashSet<>();
        for (Node n : seed.getNodesList()) {
            if (n.getName().isEmpty() || !names.add(n.getName())) {
                return Outcome.rejected(state, "seed has an empty or duplicate node name '" + n.getName() + "'");
            }
        }
        if (!names.contains(seed.getPrimary())) {
            return Outcome.rejected(state, "seed names primary '" + seed.getPrimary() + "', which is not one of its nodes");
        }
        List<Node> nodes = new ArrayList<>();
        for (Node n : seed.getNodesList()) {
            NodeRole role = n.getName().equals(seed.getPrimary()) ? NodeRole.PRIMARY : NodeRole.REPLICA;
            nodes.add(n.toBuilder().setRole(role).build());
        }
        nodes.sort(Comparator.comparing(Node::getName));
        TopologyEvent event = TopologyEvent.newBuilder().setKind(EventKind.BOOTSTRAPPED).setTimeMillis(time)
                .setTerm(term).setEpoch(1).setNewPrimary(seed.getPrimary())
                .setReason("cluster seeded with " + nodes.size() + " nodes, primary " + seed.getPrimary()).build();
        return Outcome.applied(state.toBuilder().setSeeded(true).setEpoch(1).setClusterName(seed.getClusterName())
                .setPrimary(seed.getPrimary()).clearNodes().addAllNodes(nodes).setSettings(seed.getSettings())
                .addHistory(event).setLastChangeMillis(time).build());
    }

    private static Outcome reportVerdict(ClusterState state, ReportVerdict report, long time) {
        if (!state.getSeeded()) {
            return Outcome.rejected(state, "not seeded yet");
        }
        if (report.getInstanceId().isEmpty()) {
            return Outcome.rejected(state, "verdict without an instance id");
        }
        if (report.getVerdict() != Verdict.UP && report.getVerdict() != Verdict.DOWN) {
            return Outcome.rejected(state, "verdict must be UP or DOWN, got " + report.getVerdict());
        }
        if (state.getNodesList().stream().noneMatch(n -> n.getName().equals(report.getNode()))) {
            return Outcome.rejected(state, "unknown node '" + report.getNode() + "'");
        }
        List<VerdictRecord> verdicts = new ArrayList<>();
        for (VerdictRecord v : state.getVerdictsList()) {
            boolean same = v.getInstanceId().equals(report.getInstanceId()) && v.getNode().equals(report.getNode());
            if (same && v.getVerdict() == report.getVerdict()) {
                return Outcome.applied(state);
            }
            if (!same) {
                verdicts.add(v);
            }
        }
        verdicts.add(VerdictRecord.newBuilder().setInstanceId(report.getInstanceId()).setNode(report.getNode())
                .setVerdict(report.getVerdict()).setSinceMillis(time).build());
        verdicts.sort(Comparator.comparing(VerdictRecord::getNode).thenComparing(VerdictRecord::getInstanceId));
        return Outcome.applied(state.toBuilder().clearVerdicts().addAllVerdicts(verdicts).setLastChangeMillis(time).build());
    }
}

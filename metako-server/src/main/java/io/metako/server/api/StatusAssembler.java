package io.metako.server.api;

import io.metako.server.health.HealthByMajority;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Member;
import io.metako.proto.v1.MemberRole;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.ProxyBackendConnections;
import io.metako.proto.v1.ProxyStatus;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import io.metako.proxy.session.StatementRouter;
import io.metako.server.health.Lsn;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Builds the {@link ClusterStatus} an instance answers with, from the replicated state, this
 * instance's view of the Raft group, and its own fresh observations. Pure: no I/O.
 */
public final class StatusAssembler {
    private StatusAssembler() {
    }

    /** What the answering instance knows of the Raft group. */
    public record RaftView(String selfId, String leaderId, long term, long appliedIndex, MemberRole selfRole,
                           List<Member> peers) {
    }

    public static ClusterStatus assemble(ClusterState state, RaftView raft, Map<String, NodeObservation> observations,
                                         String sentence) {
        // a node's health counts the voters' verdicts, not those of instances only registered (joining or leaving)
        Set<String> instanceIds = raft.peers().stream().filter(m -> !m.getMembership().equals("registered"))
                .map(Member::getId).collect(java.util.stream.Collectors.toSet());
        ClusterStatus.Builder b = ClusterStatus.newBuilder().setAnsweredBy(raft.selfId())
                .setLeaderId(nullToEmpty(raft.leaderId())).setTerm(raft.term()).addAllMembers(members(raft))
                .setEpoch(state.getEpoch()).setPrimary(state.getPrimary()).setPaused(state.getPaused())
                .setControllerSentence(sentence).setAppliedIndex(raft.appliedIndex())
                .setClusterName(state.getClusterName()).setSeeded(state.getSeeded())
                .setSettings(state.getSettings()).setInstances(raft.peers().size())
                .addAllSynchronousStandbys(state.getSynchronousStandbysList());
        long primaryLsn = Optional.ofNullable(observations.get(state.getPrimary()))
                .filter(o -> o.getReachable() && !o.getInRecovery()).map(o -> Lsn.parse(o.getCurrentLsn())).orElse(-1L);
        for (Node n : state.getNodesList()) {
            List<VerdictRecord> verdicts = HealthByMajority.verdictsOn(state, n.getName(), instanceIds);
            NodeStatus.Builder ns = NodeStatus.newBuilder().setNode(n).addAllVerdicts(verdicts)
                    .setHealth(HealthByMajority.of(verdicts, instanceIds.size()));
            NodeObservation obs = observations.get(n.getName());
            if (obs != null) {
                ns.setObservation(withLag(obs, primaryLsn));
            }
            b.addNodes(ns);
        }
        return b.build();
    }

    /** What this instance's statement router holds: its client sessions and its connections per node. */
    public static ProxyStatus proxy(int clientSessions, List<StatementRouter.NodeConnections> backends) {
        ProxyStatus.Builder p = ProxyStatus.newBuilder().setClientSessions(clientSessions);
        for (StatementRouter.NodeConnections c : backends) {
            p.addBackends(ProxyBackendConnections.newBuilder().setNode(c.node()).setInUse(c.inUse()).setKept(c.kept()));
        }
        return p.build();
    }

    private static NodeObservation withLag(NodeObservation obs, long primaryLsn) {
        if (!obs.getReachable() || !obs.getInRecovery() || primaryLsn < 0 || obs.getReplayLsn().isEmpty()) {
            return obs;
        }
        return obs.toBuilder().setLagBytes(Math.max(0, primaryLsn - Lsn.parse(obs.getReplayLsn()))).build();
    }

    /** The group's members with the roles the answering instance sees. */
    public static List<Member> members(RaftView raft) {
        return raft.peers().stream().map(p -> {
            Member.Builder m = p.toBuilder().setSelf(p.getId().equals(raft.selfId()));
            if (p.getId().equals(raft.selfId())) {
                m.setRole(raft.selfRole());
            } else if (raft.leaderId() == null) {
                m.setRole(MemberRole.UNKNOWN_ROLE);
            } else {
                m.setRole(p.getId().equals(raft.leaderId()) ? MemberRole.LEADER : MemberRole.FOLLOWER);
            }
            return m.build();
        }).toList();
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }
}

package io.metako.server.state;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.InstanceEntry;
import io.metako.proto.v1.TopologyEvent;
import io.metako.server.state.ClusterTransitions.Outcome;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The registry of metako instances ({@link ClusterState#getInstancesList()}): who is, or is becoming, or was until
 * moments ago, a member of the Raft group, and where operators reach each one's admin API. The Raft configuration
 * itself lives in Ratis; this registry is what the log knows of it, so that every instance counts the same members
 * in epoch acknowledgements at the same index (with the
 * Raft configuration each one knows: during a change, the leader's may be ahead). Pure, as every transition; the checks here are stable rules only.
 */
final class MemberTransitions {
    private MemberTransitions() {
    }

    static Outcome register(ClusterState state, Command command, long term) {
        InstanceEntry e = command.getRegisterInstance().getInstance();
        InstanceEntry asked = e;
        String by = command.getRegisterInstance().getRequestedBy();
        // stable rules only (the log's meaning must not change with the version): the proposer checks the forms
        if (e.getId().isEmpty() || e.getRaftAddress().isEmpty()) {
            return Outcome.rejected(state, "an instance needs an id and a Raft address");
        }
        List<InstanceEntry> instances = new ArrayList<>();
        boolean known = false;
        for (InstanceEntry other : state.getInstancesList()) {
            if (other.getId().equals(e.getId())) {
                known = true;
                e = e.toBuilder().setVoted(e.getVoted() || other.getVoted()).build(); // sticky
            } else if (other.getRaftAddress().equals(e.getRaftAddress())) {
                return Outcome.rejected(state, e.getRaftAddress() + " is the Raft address of instance " + other.getId()
                        + " already");
            } else {
                instances.add(other);
            }
        }
        instances.add(e);
        instances.sort(Comparator.comparing(InstanceEntry::getId));
        ClusterState.Builder next = state.toBuilder().clearInstances().addAllInstances(instances);
        if (!known && !by.isEmpty()) {
            TopologyEvent event = TopologyEvent.newBuilder().setKind(EventKind.MEMBER_ADDED)
                    .setTimeMillis(command.getTimeMillis()).setTerm(term).setEpoch(state.getEpoch()).setMember(e.getId())
                    .setRequestedBy(by).setInstance(command.getProposer())
                    .setReason("instance " + asked.getId() + " (Raft " + asked.getRaftAddress() + ", API "
                            + (asked.getApiAddress().isEmpty() ? "unknown" : asked.getApiAddress()) + ") joins the Raft"
                            + " group, asked by " + by).build();
            next.clearHistory().addAllHistory(FailoverTransitions.appended(state, event));
        }
        return Outcome.applied(next.build());
    }

    static Outcome retire(ClusterState state, Command command, long term) {
        String id = command.getRetireInstance().getId();
        if (command.getProposerTerm() == 0) {
            return Outcome.rejected(state, "only the leader's controller ends a registration");
        }
        List<InstanceEntry> left = state.getInstancesList().stream().filter(i -> !i.getId().equals(id)).toList();
        if (left.size() == state.getInstancesCount()) {
            return Outcome.rejected(state, "no instance " + id + " is registered");
        }
        TopologyEvent event = TopologyEvent.newBuilder().setKind(EventKind.MEMBER_REMOVED)
                .setTimeMillis(command.getTimeMillis()).setTerm(term).setEpoch(state.getEpoch()).setMember(id)
                .setInstance(command.getProposer())
                .setReason("instance " + id + " is out of the Raft group and any lease it held has run out").build();
        return Outcome.applied(state.toBuilder().clearInstances().addAllInstances(left).clearHistory()
                .addAllHistory(FailoverTransitions.appended(state, event)).build());
    }
}

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
import java.util.regex.Pattern;

/**
 * The registry of metako instances ({@link ClusterState#getInstancesList()}): who is, or is becoming, or was until
 * moments ago, a member of the Raft group, and where operators reach each one's admin API. The Raft configuration
 * itself lives in Ratis; this registry is what the log knows of it, so that every instance counts the same members
 * in epoch acknowledgements at the same index. Pure, as every transition; the checks here are stable rules only.
 */
final class MemberTransitions {
    /** An instance id: also a certificate's CN and a Raft peer id. */
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
    /** host:port, the host a name or an address (IPv6 in brackets). */
    private static final Pattern ADDRESS = Pattern.compile("(\\[[0-9A-Fa-f:.]+]|[A-Za-z0-9._-]+):[0-9]{1,5}");

    private MemberTransitions() {
    }

    static Outcome register(ClusterState state, Command command, long term) {
        InstanceEntry e = command.getRegisterInstance().getInstance();
        String by = command.getRegisterInstance().getRequestedBy();
        if (!ID.matcher(e.getId()).matches()) {
            return Outcome.rejected(state, "an instance id is 1 to 63 letters, digits, '.', '_' or '-', starting with a"
                    + " letter or digit");
        }
        if (!ADDRESS.matcher(e.getRaftAddress()).matches()
                || !(e.getApiAddress().isEmpty() || ADDRESS.matcher(e.getApiAddress()).matches())) {
            return Outcome.rejected(state, "an instance's Raft and API addresses are host:port");
        }
        List<InstanceEntry> instances = new ArrayList<>();
        boolean known = false;
        for (InstanceEntry other : state.getInstancesList()) {
            if (other.getId().equals(e.getId())) {
                known = true;
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
                    .setReason("instance " + e.getId() + " (Raft " + e.getRaftAddress() + ", API "
                            + (e.getApiAddress().isEmpty() ? "unknown" : e.getApiAddress()) + ") joins the Raft group, "
                            + "asked by " + by).build();
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

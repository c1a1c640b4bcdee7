package io.metako.server.control;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.NodeObservation;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Everything one controller tick decides from: the replicated state, the leader's own fresh
 * observations, the Raft members, those it may go on without (their acknowledgement of the
 * operation's epoch missing for lease + margin), the time, and how long this process has seen the
 * last change of primary on its monotonic clock ({@code -1}: not measured).
 */
public record ControllerView(ClusterState state, Map<String, NodeObservation> observations, List<String> members,
                             Set<String> silentMembers, long nowMillis, long lastChangeSeenMillis) {
    public ControllerView(ClusterState state, Map<String, NodeObservation> observations, List<String> members,
                          Set<String> silentMembers, long nowMillis) {
        this(state, observations, members, silentMembers, nowMillis, -1);
    }

    /** {@code node}'s health by majority of the members. */
    public io.metako.proto.v1.MajorityHealth health(String node) {
        return io.metako.server.api.StatusAssembler.healthOf(state, node, members);
    }

    public ControllerView {
        observations = Map.copyOf(observations);
        members = List.copyOf(members);
        silentMembers = Set.copyOf(silentMembers);
    }
}

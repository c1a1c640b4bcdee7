package io.metako.server.control;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.NodeObservation;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Everything one controller tick decides from: the replicated state, the leader's own fresh
 * observations, the Raft members and which of them have been silent towards the leader for
 * longer than the lease, and the time.
 */
public record ControllerView(ClusterState state, Map<String, NodeObservation> observations, List<String> members,
                             Set<String> silentMembers, long nowMillis) {
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

package io.metako.server.control;

import io.metako.server.health.HealthByMajority;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.NodeObservation;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Everything one controller tick decides from: the replicated state, the leader's own fresh
 * observations, the Raft members, those it may go on without (their acknowledgement of the
 * operation's epoch missing for lease + margin), the time, how long this process has seen the last
 * change of primary on its monotonic clock ({@code -1}: not measured), and the members the leader
 * has not heard from at all for a long while: their verdicts, however old, count for nothing.
 */
public record ControllerView(ClusterState state, Map<String, NodeObservation> observations, List<String> members,
                             Set<String> silentMembers, long nowMillis, long lastChangeSeenMillis,
                             Set<String> unresponsive, List<String> acknowledgers) {
    /**
     * {@code members}: the Raft configuration's voters, whose verdicts make a node's health; {@code acknowledgers}:
     * every instance an operation's epoch must be acknowledged by (or waited out), the voters and the instances
     * registered while they join or leave (one may hold a lease).
     */
    public ControllerView(ClusterState state, Map<String, NodeObservation> observations, List<String> members,
                          Set<String> silentMembers, long nowMillis, long lastChangeSeenMillis, Set<String> unresponsive) {
        this(state, observations, members, silentMembers, nowMillis, lastChangeSeenMillis, unresponsive, members);
    }

    public ControllerView(ClusterState state, Map<String, NodeObservation> observations, List<String> members,
                          Set<String> silentMembers, long nowMillis) {
        this(state, observations, members, silentMembers, nowMillis, -1, Set.of());
    }

    public ControllerView(ClusterState state, Map<String, NodeObservation> observations, List<String> members,
                          Set<String> silentMembers, long nowMillis, long lastChangeSeenMillis) {
        this(state, observations, members, silentMembers, nowMillis, lastChangeSeenMillis, Set.of());
    }

    /** The members whose verdicts count: a dead instance's last verdict must not tip a majority. */
    public List<String> voters() {
        return members.stream().filter(m -> !unresponsive.contains(m)).toList();
    }

    /** {@code node}'s health by majority of the members. */
    public io.metako.proto.v1.MajorityHealth health(String node) {
        return HealthByMajority.of(
                HealthByMajority.verdictsOn(state, node, voters()), members.size());
    }

    public ControllerView {
        observations = Map.copyOf(observations);
        members = List.copyOf(members);
        silentMembers = Set.copyOf(silentMembers);
        unresponsive = Set.copyOf(unresponsive);
        acknowledgers = List.copyOf(acknowledgers);
    }
}

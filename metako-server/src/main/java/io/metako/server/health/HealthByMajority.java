package io.metako.server.health;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import java.util.Collection;
import java.util.List;

/**
 * The one rule of a node's health: by majority of the instances' replicated verdicts. The controller fails over on
 * it, the routing table serves by it, the status shows it.
 */
public final class HealthByMajority {
    private HealthByMajority() {
    }

    /** The verdicts on {@code node} of the instances in {@code members} (others no longer count). */
    public static List<VerdictRecord> verdictsOn(ClusterState s, String node, Collection<String> members) {
        return s.getVerdictsList().stream()
                .filter(v -> v.getNode().equals(node) && members.contains(v.getInstanceId())).toList();
    }

    /** {@code node}'s health by majority of the group {@code members}. */
    public static MajorityHealth healthOf(ClusterState s, String node, Collection<String> members) {
        return of(verdictsOn(s, node, members), members.size());
    }

    /** HEALTHY or FAILED when a majority of {@code instances} agree, UNDECIDED otherwise. */
    public static MajorityHealth of(List<VerdictRecord> verdicts, int instances) {
        int majority = instances / 2 + 1;
        long up = verdicts.stream().filter(v -> v.getVerdict() == Verdict.UP).count();
        long down = verdicts.stream().filter(v -> v.getVerdict() == Verdict.DOWN).count();
        if (up >= majority) {
            return MajorityHealth.HEALTHY;
        }
        return down >= majority ? MajorityHealth.FAILED : MajorityHealth.UNDECIDED;
    }
}

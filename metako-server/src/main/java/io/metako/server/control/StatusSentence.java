package io.metako.server.control;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.VerdictRecord;
import io.metako.proto.v1.Verdict;
import io.metako.server.api.StatusAssembler;
import java.util.List;

/**
 * The one sentence a control-loop tick yields about the topology, e.g.
 * {@code no action: pg-1 is primary at epoch 4}. Pure: the failover controller will extend it.
 */
public final class StatusSentence {
    private StatusSentence() {
    }

    public static String describe(ClusterState state, int instances, boolean leaderKnown) {
        if (!leaderKnown) {
            return "waiting: no Raft leader known to this instance";
        }
        if (!state.getSeeded()) {
            return "waiting: the cluster is not seeded yet (the leader seeds it from its configuration)";
        }
        String primary = state.getPrimary();
        if (primary.isEmpty()) {
            return "no primary at epoch " + state.getEpoch();
        }
        List<VerdictRecord> verdicts = state.getVerdictsList().stream().filter(v -> v.getNode().equals(primary)).toList();
        long down = verdicts.stream().filter(v -> v.getVerdict() == Verdict.DOWN).count();
        MajorityHealth health = StatusAssembler.majorityHealth(verdicts, instances);
        if (health == MajorityHealth.FAILED) {
            return "primary " + primary + " is down for " + down + "/" + instances
                    + " instances at epoch " + state.getEpoch() + "; this build does not fail over automatically";
        }
        if (down > 0) {
            return "waiting: " + primary + " down for " + down + "/" + instances + " instances (no majority)";
        }
        if (state.getPaused()) {
            return "paused: " + primary + " is primary at epoch " + state.getEpoch();
        }
        return "no action: " + primary + " is primary at epoch " + state.getEpoch();
    }
}

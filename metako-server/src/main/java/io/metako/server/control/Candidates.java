package io.metako.server.control;

import io.metako.proto.v1.CandidateLsn;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRole;
import io.metako.server.config.Units;
import io.metako.server.health.Lsn;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Which replicas may be promoted, best first: healthy by majority, not {@code nofailover},
 * seen in recovery by the leader, within {@code maximum_lag_on_failover} of the most advanced
 * known position; ordered by LSN, then priority, then name. Pure.
 */
final class Candidates {
    /** A promotable node and the WAL position the leader last saw it at. */
    record Candidate(Node node, long lsn) {
    }

    /** The eligible candidates, best first, and why the others were left out. */
    record Choice(List<Candidate> eligible, List<String> excluded, List<CandidateLsn> seen) {
        boolean isEmpty() {
            return eligible.isEmpty();
        }

        String whyNone() {
            return excluded.isEmpty() ? "no replica to promote" : String.join("; ", excluded);
        }
    }

    private Candidates() {
    }

    /**
     * In synchronous mode only members of the synchronous set may be promoted, and only when
     * enough of them are seen that one surely holds every acknowledged commit: with
     * {@code ANY n} over a set of k, at least {@code k - n + 1}. The most advanced member wins.
     */
    private static Choice synchronousChoice(ClusterState s, List<Candidate> seen, List<String> excluded) {
        List<String> set = s.getSynchronousStandbysList();
        int n = SynchronousSet.required(s);
        List<Candidate> members = new ArrayList<>();
        for (Candidate c : seen) {
            if (set.contains(c.node().getName())) {
                members.add(c);
            } else {
                excluded.add(c.node().getName() + " is not in the synchronous set " + set);
            }
        }
        int needed = set.size() - n + 1;
        List<CandidateLsn> lsns = seen.stream().map(c -> CandidateLsn.newBuilder().setNode(c.node().getName())
                .setLsn(c.lsn()).build()).toList();
        if (set.isEmpty() || members.size() < needed) {
            excluded.add("synchronous mode: " + members.size() + " of the synchronous set " + set
                    + " can be seen, " + Math.max(needed, 1) + " needed to be sure of every acknowledged write");
            return new Choice(List.of(), excluded, lsns);
        }
        members.sort(Comparator.comparingLong(Candidate::lsn).reversed()
                .thenComparing(c -> -c.node().getTags().getPriority()).thenComparing(c -> c.node().getName()));
        return new Choice(members, excluded, lsns);
    }

    static Choice choose(ControllerView view, String oldPrimary) {
        ClusterState s = view.state();
        long maxLag = s.getSettings().getFailover().getMaximumLagOnFailoverBytes();
        List<Candidate> seen = new ArrayList<>();
        List<String> excluded = new ArrayList<>();
        for (Node n : s.getNodesList()) {
            if (n.getName().equals(oldPrimary)
                    || (n.getRole() != NodeRole.REPLICA && n.getRole() != NodeRole.CANDIDATE)) {
                continue;
            }
            NodeObservation o = view.observations().get(n.getName());
            MajorityHealth health = view.health(n.getName());
            if (n.getTags().getNofailover()) {
                excluded.add(n.getName() + " is tagged nofailover");
            } else if (health != MajorityHealth.HEALTHY) {
                excluded.add(n.getName() + " is not healthy by majority");
            } else if (o == null || !o.getReachable() || !o.getInRecovery()) {
                excluded.add(n.getName() + " is not seen in recovery by the leader");
            } else {
                seen.add(new Candidate(n, Math.max(Lsn.parse(o.getReceiveLsn()), Lsn.parse(o.getReplayLsn()))));
            }
        }
        if (SynchronousSet.syncMode(s)) {
            return synchronousChoice(s, seen, excluded);
        }
        long reference = seen.stream().mapToLong(Candidate::lsn).max().orElse(-1);
        NodeObservation old = view.observations().get(oldPrimary);
        if (old != null && !old.getCurrentLsn().isEmpty()) {
            reference = Math.max(reference, Lsn.parse(old.getCurrentLsn()));
        }
        List<Candidate> eligible = new ArrayList<>();
        for (Candidate c : seen) {
            if (reference - c.lsn() > maxLag) {
                excluded.add(c.node().getName() + " lags " + Units.formatSize(reference - c.lsn())
                        + ", over maximum_lag_on_failover " + Units.formatSize(maxLag));
            } else {
                eligible.add(c);
            }
        }
        eligible.sort(Comparator.comparingLong(Candidate::lsn).reversed()
                .thenComparing(c -> -c.node().getTags().getPriority())
                .thenComparing(c -> c.node().getName()));
        List<CandidateLsn> lsns = seen.stream().map(c -> CandidateLsn.newBuilder().setNode(c.node().getName())
                .setLsn(c.lsn()).build()).toList();
        return new Choice(eligible, excluded, lsns);
    }
}

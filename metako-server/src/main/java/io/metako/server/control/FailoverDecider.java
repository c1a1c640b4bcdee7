package io.metako.server.control;

import io.metako.server.health.HealthByMajority;
import io.metako.server.state.Nodes;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.Operation;
import io.metako.proto.v1.TopologyEvent;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import io.metako.server.health.Lsn;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The failover decision as a pure function of a {@link ControllerView}: no I/O, no clock, no
 * logging. The leader's loop calls it every tick and carries out the actions; every action is
 * safe to repeat, so a tick that dies half-way is simply decided again.
 */
public final class FailoverDecider {
    private FailoverDecider() {
    }

    public static Decision decide(ControllerView view) {
        ClusterState s = view.state();
        if (!s.getSeeded()) {
            return Decision.none("waiting: the cluster is not seeded yet");
        }
        if (s.hasOperation()) {
            return resume(view, s.getOperation());
        }
        List<ControllerAction> runaways = fenceRunawayPrimaries(view);
        List<ControllerAction> actions = new ArrayList<>(runaways);
        String primary = s.getPrimary();
        NodeObservation seenPrimary = view.observations().get(primary);
        if (seenPrimary != null && seenPrimary.getReachable() && !seenPrimary.getInRecovery() && seenPrimary.getReadOnly()
                && runaways.isEmpty() && probedSinceTheChange(view)) {
            // e.g. after an aborted failover or switchover; never while another node may still take writes: a
            // promotion that raced the abort shows only in a probe taken after it, and is fenced first
            actions.add(new ControllerAction.Unfence(primary));
        }
        List<VerdictRecord> verdicts = verdictsOf(view, primary);
        long down = verdicts.stream().filter(v -> v.getVerdict() == Verdict.DOWN).count();
        if (HealthByMajority.of(verdicts, view.members().size()) != MajorityHealth.FAILED) {
            List<ControllerAction> repoints = repoints(view);
            actions.addAll(repoints);
            Optional<Node> primaryNode = Nodes.named(s, primary);
            List<String> rejoinNotes = List.of();
            if (primaryNode.isPresent() && seenPrimary != null && seenPrimary.getReachable() && !seenPrimary.getInRecovery()) {
                SynchronousSet.step(view, primaryNode.get(), seenPrimary).ifPresent(actions::add);
                if (!seenPrimary.getReadOnly() && down == 0) {
                    // a node rejoins a primary every instance sees, taking writes (so this leader's probe of it was
                    // taken after its promotion): its managing instance stops the old primary at once, the strongest
                    // fence there is, and a rejoin completes only on a probe of the server it restarted
                    Rejoins.Step rejoins = Rejoins.step(view, primaryNode.get(), seenPrimary);
                    actions.addAll(rejoins.actions());
                    rejoinNotes = rejoins.notes();
                }
            }
            String reason = down > 0
                    ? "waiting: " + primary + " down for " + down + "/" + view.members().size() + " instances"
                    : "no action: " + primary + " is primary at epoch " + s.getEpoch()
                            + primaryNode.flatMap(p -> SynchronousSet.shortfall(view, p)).map(w -> "; " + w).orElse("");
            if (!repoints.isEmpty()) {
                reason = "re-pointing " + repoints.stream().map(a -> ((ControllerAction.Repoint) a).replica()).toList()
                        + " to " + primary + " at epoch " + s.getEpoch();
            }
            if (!rejoinNotes.isEmpty()) {
                reason += "; " + String.join("; ", rejoinNotes);
            }
            return new Decision(actions, reason);
        }
        String failed = primary + " failed for " + down + "/" + view.members().size() + " instances";
        Optional<String> witness = replicaStillStreaming(view, primary);
        if (witness.isPresent()) {
            return new Decision(actions, "waiting: " + failed + " but " + witness.get()
                    + " still receives WAL from it (the instances, not the primary, may be in trouble)");
        }
        if (s.getPaused()) {
            return new Decision(actions, "paused: " + failed + "; no automatic failover in maintenance mode");
        }
        Optional<TopologyEvent> last = lastChangeOfPrimary(s);
        long cooldown = s.getSettings().getFailover().getCooldownMillis();
        // The event's time is its proposer's wall clock. A clock stepped back on this leader must not hold
        // failover off for the size of the step: the cooldown also ends once this process has seen the
        // change for that long on its monotonic clock.
        long age = last.map(e -> Math.max(view.nowMillis() - e.getTimeMillis(), view.lastChangeSeenMillis())).orElse(0L);
        if (last.isPresent() && age < cooldown) {
            return new Decision(actions, "no failover: " + failed + " but the last change of primary was "
                    + Math.max(0, age) / 1000 + "s ago (cooldown " + cooldown / 1000 + "s)");
        }
        Candidates.Choice choice = Candidates.choose(view, primary);
        if (choice.isEmpty()) {
            return new Decision(actions, "no failover: " + failed + " and " + choice.whyNone());
        }
        String target = choice.eligible().get(0).node().getName();
        actions.add(new ControllerAction.StartFailover(primary, target, choice.seen(), failed));
        return new Decision(actions, "failover: " + failed + "; starting epoch " + (s.getEpoch() + 1)
                + " with candidate " + target);
    }

    private static Decision resume(ControllerView view, Operation op) {
        ClusterState s = view.state();
        List<String> missing = view.acknowledgers().stream()
                .filter(m -> !op.getAckedInstancesList().contains(m) && !view.silentMembers().contains(m)).toList();
        if (!missing.isEmpty()) {
            return Decision.none("waiting: epoch " + s.getEpoch() + " acknowledged by "
                    + (view.acknowledgers().size() - missing.size()) + "/" + view.acknowledgers().size() + " instances "
                    + missing);
        }
        NodeObservation target = view.observations().get(op.getTarget());
        if (target != null && target.getReachable() && !target.getInRecovery()) {
            return new Decision(List.of(new ControllerAction.CompleteFailover(op.getTarget(), target.getTimeline())),
                    "completing: " + op.getTarget() + " left recovery on timeline " + target.getTimeline());
        }
        List<ControllerAction> fences = new ArrayList<>();
        for (Node n : s.getNodesList()) {
            NodeObservation o = view.observations().get(n.getName());
            if (!n.getName().equals(op.getOldPrimary()) && o != null && o.getReachable() && !o.getInRecovery()
                    && !o.getReadOnly() && n.getRole() == NodeRole.REPLICA) {
                // promoted by nobody this log knows of (a deposed leader's late step): it takes no writes
                fences.add(new ControllerAction.Fence(n.getName()));
            }
        }
        if (!fences.isEmpty()) {
            return new Decision(fences, "fencing " + fences.stream().map(f -> ((ControllerAction.Fence) f).node()).toList()
                    + ": out of recovery but not the target " + op.getTarget() + " of epoch " + s.getEpoch());
        }
        NodeObservation old = view.observations().get(op.getOldPrimary());
        boolean oldReachable = old != null && old.getReachable();
        if (op.getKind() == EventKind.SWITCHOVER) {
            if (view.health(op.getOldPrimary()) != MajorityHealth.FAILED) {
                if (!oldReachable) {
                    // one missed probe (the fence ends every client session, a probe's too) is no reason to promote
                    // a target that has not replayed everything: only a majority's FAILED makes this a failover
                    return Decision.none("switchover: waiting to see " + op.getOldPrimary() + " again ("
                            + (old == null ? "not probed yet" : old.getError()) + "); " + op.getTarget()
                            + " is promoted only once it has replayed all " + op.getOldPrimary() + " wrote");
                }
                return switchoverStep(s, op, old, target);
            }
            Optional<String> witness = replicaStillStreaming(view, op.getOldPrimary());
            if (witness.isPresent()) {
                // the instances lost it, the replicas did not: it may still have commits the target lacks
                return Decision.none("switchover: " + op.getOldPrimary() + " is failed by majority but " + witness.get()
                        + " still receives WAL from it; waiting (metakoctl abort, or failover --force, ends this)");
            }
            // failed by majority and no replica hears from it: it is gone, and this goes on as a failover
        }
        List<ControllerAction> actions = new ArrayList<>();
        if (oldReachable && !old.getReadOnly()) {
            actions.add(new ControllerAction.Fence(op.getOldPrimary()));
        }
        if (op.getForced()) {
            if (target == null || !target.getReachable()) {
                return new Decision(actions, "waiting: the forced target " + op.getTarget() + " is not reachable");
            }
            actions.add(promote(s, op, op.getTarget()));
            return new Decision(actions, "promoting " + op.getTarget() + " at epoch " + s.getEpoch()
                    + " (forced by an operator)");
        }
        Candidates.Choice choice = Candidates.choose(view, op.getOldPrimary());
        if (!choice.isEmpty()) {
            boolean targetEligible = choice.eligible().stream().anyMatch(c -> c.node().getName().equals(op.getTarget()));
            if (targetEligible) {
                actions.add(promote(s, op, op.getTarget()));
                return new Decision(actions, "promoting " + op.getTarget() + " at epoch " + s.getEpoch());
            }
            String why = choice.excluded().stream().filter(x -> x.startsWith(op.getTarget() + " ")).findFirst()
                    .orElse(op.getTarget() + " is not eligible any more");
            if (op.getRequested()) {
                return new Decision(actions, "waiting: " + why + "; an operator asked for " + op.getTarget()
                        + " by name, so no other node is promoted");
            }
            String next = choice.eligible().get(0).node().getName();
            // the log names the new target before it is promoted: a failover completes only to its target
            actions.add(new ControllerAction.RetargetFailover(next, why));
            return new Decision(actions, "retargeting epoch " + s.getEpoch() + " from " + op.getTarget() + " to " + next
                    + ": " + why);
        }
        if (view.health(op.getOldPrimary()) == MajorityHealth.HEALTHY) {
            return new Decision(List.of(new ControllerAction.AbortFailover(choice.whyNone() + "; "
                    + op.getOldPrimary() + " is healthy again")), "aborting: " + choice.whyNone());
        }
        return new Decision(actions, "waiting without a primary at epoch " + s.getEpoch() + ": " + choice.whyNone());
    }

    /**
     * A switchover hands over without losing a write: the old primary turns read-only, the
     * target replays up to the old primary's last position, and only then is it promoted.
     */
    private static Decision switchoverStep(ClusterState s, Operation op, NodeObservation old, NodeObservation target) {
        if (!old.getReadOnly()) {
            return new Decision(List.of(new ControllerAction.Fence(op.getOldPrimary())),
                    "switchover: making " + op.getOldPrimary() + " read-only at epoch " + s.getEpoch());
        }
        if (old.getOpenTransactions() > 0) {
            // a transaction that began before the fence may still commit: its position is not final yet
            return Decision.none("switchover: waiting for " + old.getOpenTransactions() + " open transaction(s) on "
                    + op.getOldPrimary() + " to end");
        }
        long last = Lsn.parse(old.getCurrentLsn());
        long replayed = target == null || !target.getReachable() ? -1 : Lsn.parse(target.getReplayLsn());
        if (last < 0 || replayed < last) {
            return Decision.none("switchover: waiting for " + op.getTarget() + " to replay up to "
                    + old.getCurrentLsn() + " (at " + (replayed < 0 ? "unknown" : Lsn.format(replayed)) + ")");
        }
        return new Decision(List.of(promote(s, op, op.getTarget())), "switchover: " + op.getTarget()
                + " replayed " + op.getOldPrimary() + "'s last position " + old.getCurrentLsn() + "; promoting it");
    }

    /**
     * Whether this process has seen the last change of primary for long enough that every node has been
     * probed since (twice the probe interval plus its timeout); true when it does not know of any change.
     */
    static boolean probedSinceTheChange(ControllerView view) {
        var hc = view.state().getSettings().getHealthCheck();
        long fresh = 2 * (hc.getIntervalMillis() + hc.getTimeoutMillis());
        return view.lastChangeSeenMillis() < 0 || view.lastChangeSeenMillis() >= fresh;
    }

    /**
     * Never fail over a primary that a replica still hears from: a replica whose WAL receiver
     * streams from the primary and got a message recently is proof the primary lives, whatever
     * the probes of stalled or cut-off instances say.
     */
    static Optional<String> replicaStillStreaming(ControllerView view, String primary) {
        ClusterState s = view.state();
        Optional<Node> p = Nodes.named(s, primary);
        if (p.isEmpty()) {
            return Optional.empty();
        }
        long fresh = Math.max(RECEIVER_FRESH_MILLIS, 3 * s.getSettings().getHealthCheck().getIntervalMillis());
        for (Node n : s.getNodesList()) {
            NodeObservation o = view.observations().get(n.getName());
            // a replica whose last probe failed still counts by what its last answer said, aged (HealthMonitor)
            if (n.getName().equals(primary) || o == null || !o.getInRecovery()) {
                continue;
            }
            boolean fromPrimary = Nodes.upstreamIs(o, p.get());
            long age = o.getReceiverLastMessageAgeMillis();
            if (fromPrimary && "streaming".equals(o.getWalReceiverStatus()) && age >= 0 && age <= fresh) {
                return Optional.of(n.getName());
            }
        }
        return Optional.empty();
    }

    /** An idle primary sends a keepalive every wal_sender_timeout / 2 (2.5 s as metako sets it up). */
    static final long RECEIVER_FRESH_MILLIS = 4_000;

    /** A promotion; in synchronous mode the new primary waits for the rest of the set from its first commit. */
    private static ControllerAction.Promote promote(ClusterState s, Operation op, String node) {
        if (!SynchronousSet.syncMode(s)) {
            return new ControllerAction.Promote(node);
        }
        List<String> rest = s.getSynchronousStandbysList().stream()
                .filter(n -> !n.equals(node) && !n.equals(op.getOldPrimary())).toList();
        return new ControllerAction.Promote(node, SynchronousSet.setting(rest, SynchronousSet.required(s)));
    }

    /**
     * A node out of recovery that the log does not name primary takes no writes: a quarantined old
     * primary restarted as-is, or a replica promoted by a step the log has since abandoned (a promotion
     * that raced an operator's abort, or someone's manual pg_promote).
     */
    private static List<ControllerAction> fenceRunawayPrimaries(ControllerView view) {
        List<ControllerAction> out = new ArrayList<>();
        for (Node n : view.state().getNodesList()) {
            NodeObservation o = view.observations().get(n.getName());
            boolean notPrimary = n.getRole() == NodeRole.QUARANTINED || n.getRole() == NodeRole.REPLICA;
            if (notPrimary && o != null && o.getReachable() && !o.getInRecovery()
                    && !o.getReadOnly()) {
                out.add(new ControllerAction.Fence(n.getName()));
            }
        }
        return out;
    }

    /** Replicas that stream from somewhere else than the primary get re-pointed. */
    private static List<ControllerAction> repoints(ControllerView view) {
        ClusterState s = view.state();
        Optional<Node> primary = Nodes.named(s, s.getPrimary());
        List<ControllerAction> out = new ArrayList<>();
        NodeObservation seen = primary.map(p -> view.observations().get(p.getName())).orElse(null);
        if (seen == null || !seen.getReachable() || seen.getInRecovery()) {
            return out; // replicas lose their upstream when the primary dies: that is no reason to re-point
        }
        for (Node n : s.getNodesList()) {
            NodeObservation o = view.observations().get(n.getName());
            if (n.getRole() != NodeRole.REPLICA || o == null || !o.getReachable() || !o.getInRecovery()) {
                continue;
            }
            if (!Nodes.upstreamIs(o, primary.get())) {
                out.add(new ControllerAction.Repoint(n.getName(), primary.get().getName()));
            }
        }
        return out;
    }

    private static List<VerdictRecord> verdictsOf(ControllerView view, String node) {
        return HealthByMajority.verdictsOn(view.state(), node, view.voters());
    }

    private static Optional<TopologyEvent> lastChangeOfPrimary(ClusterState s) {
        for (int i = s.getHistoryCount() - 1; i >= 0; i--) {
            TopologyEvent e = s.getHistory(i);
            if (e.getKind() == EventKind.FAILOVER || e.getKind() == EventKind.SWITCHOVER) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }
}

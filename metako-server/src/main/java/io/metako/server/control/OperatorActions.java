package io.metako.server.control;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.FailoverStarted;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.SetPaused;
import io.metako.server.api.AdminException;
import java.util.Optional;

/**
 * Turns an operator's request into the log command that starts it, or refuses it with a reason.
 * Pure: the answering instance checks against its view; the state machine re-checks the epoch,
 * and the leader's controller carries the operation out.
 */
public final class OperatorActions {
    private OperatorActions() {
    }

    public static Command.Builder pause(ClusterState s, boolean paused, String reason) {
        requireSeeded(s);
        return Command.newBuilder().setEpoch(s.getEpoch())
                .setSetPaused(SetPaused.newBuilder().setPaused(paused).setReason(reason));
    }

    /** A planned switchover to {@code target}, or to the best candidate when it is empty. */
    public static Command.Builder switchover(ControllerView view, String target) {
        ClusterState s = view.state();
        requireIdle(s);
        String primary = s.getPrimary();
        if (view.health(primary) != MajorityHealth.HEALTHY) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "the primary " + primary
                    + " is not healthy by majority: a switchover needs it to hand over; use failover --to NODE");
        }
        Candidates.Choice choice = Candidates.choose(view, primary);
        String chosen = target.isEmpty() ? choice.eligible().stream().map(c -> c.node().getName()).findFirst()
                .orElseThrow(() -> new AdminException(AdminException.Kind.FAILED_PRECONDITION,
                        "no replica can take over: " + choice.whyNone()))
                : target;
        requireReplica(s, chosen);
        if (choice.eligible().stream().noneMatch(c -> c.node().getName().equals(chosen))) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, chosen + " cannot take over now: "
                    + choice.excluded().stream().filter(x -> x.startsWith(chosen + " ")).findFirst().orElse(choice.whyNone()));
        }
        Command.Builder c = start(s, EventKind.SWITCHOVER, chosen, false, "switchover to " + chosen + " asked by an operator",
                choice);
        c.getFailoverStartedBuilder().setRequested(!target.isEmpty()); // named: no other node takes over
        return c;
    }

    /**
     * A manual failover to {@code target}; unhealthy targets only with {@code force}. While the primary
     * is healthy by majority it is a switchover (no acknowledged write lost) unless {@code force} says
     * otherwise. Either way only {@code target} is ever promoted.
     */
    public static Command.Builder failover(ControllerView view, String target, boolean force) {
        ClusterState s = view.state();
        if (target.isEmpty()) {
            throw new AdminException(AdminException.Kind.INVALID_ARGUMENT, "failover needs a target: --to NODE");
        }
        requireIdle(s);
        requireReplica(s, target);
        MajorityHealth h = view.health(target);
        if (h != MajorityHealth.HEALTHY && !force) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, target + " is " + h
                    + " by majority; promote it anyway with --force (it may lack acknowledged writes)");
        }
        if (!force && view.health(s.getPrimary()) == MajorityHealth.HEALTHY) {
            Command.Builder c = switchover(view, target);
            c.getFailoverStartedBuilder().setReason("failover to " + target + " asked by an operator while "
                    + s.getPrimary() + " is healthy: carried out as a switchover (--force for a failover)");
            return c;
        }
        Candidates.Choice choice = Candidates.choose(view, s.getPrimary());
        Command.Builder c = start(s, EventKind.FAILOVER, target, force, "failover to " + target + " asked by an operator"
                + (force ? " (forced)" : ""), choice);
        c.getFailoverStartedBuilder().setRequested(true);
        return c;
    }

    /**
     * Ends the operation in progress without a change of primary (the old primary is primary again at
     * the next epoch), for one that is stuck: a named target that never becomes eligible, a switchover
     * waiting on a transaction that does not end, acknowledgements that do not come. Refused once this
     * instance sees the target out of recovery: it was promoted, and the operation completes on its own.
     * The leader also checks the epoch again right before it promotes, and fences a replica it finds
     * promoted while no operation is in progress, so an abort that races a promotion leaves one writer.
     */
    public static Command.Builder abort(ControllerView view, String reason) {
        ClusterState s = view.state();
        requireSeeded(s);
        if (!s.hasOperation()) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "no failover or switchover is in progress"
                    + " (epoch " + s.getEpoch() + ", primary " + (s.getPrimary().isEmpty() ? "none" : s.getPrimary()) + ")");
        }
        io.metako.proto.v1.Operation op = s.getOperation();
        io.metako.proto.v1.NodeObservation target = view.observations().get(op.getTarget());
        if (target != null && target.getReachable() && !target.getInRecovery()) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, op.getTarget() + " has left recovery: it was"
                    + " promoted, and the " + op.getKind() + " completes on its own; an abort now would leave two primaries");
        }
        String why = "asked by an operator" + (reason.isBlank() ? "" : ": " + reason.strip());
        return Command.newBuilder().setEpoch(s.getEpoch()).setFailoverAborted(
                io.metako.proto.v1.FailoverAborted.newBuilder().setReason(why).setTarget(op.getTarget()));
    }

    private static Command.Builder start(ClusterState s, EventKind kind, String target, boolean forced, String reason,
                                         Candidates.Choice choice) {
        return Command.newBuilder().setEpoch(s.getEpoch()).setFailoverStarted(FailoverStarted.newBuilder()
                .setKind(kind).setOldPrimary(s.getPrimary()).setTarget(target).setReason(reason).setForced(forced)
                .addAllCandidates(choice.seen()));
    }

    private static void requireSeeded(ClusterState s) {
        if (!s.getSeeded()) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "the cluster is not seeded yet");
        }
    }

    private static void requireIdle(ClusterState s) {
        requireSeeded(s);
        if (s.hasOperation()) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "a " + s.getOperation().getKind()
                    + " to " + s.getOperation().getTarget() + " is in progress at epoch " + s.getEpoch());
        }
        if (s.getPrimary().isEmpty()) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "there is no primary to take over from");
        }
    }

    private static void requireReplica(ClusterState s, String name) {
        Optional<Node> n = s.getNodesList().stream().filter(x -> x.getName().equals(name)).findFirst();
        if (n.isEmpty()) {
            throw new AdminException(AdminException.Kind.INVALID_ARGUMENT, "unknown node '" + name + "'; nodes: "
                    + s.getNodesList().stream().map(Node::getName).toList());
        }
        if (n.get().getRole() != NodeRole.REPLICA) {
            throw new AdminException(AdminException.Kind.INVALID_ARGUMENT, name + " is " + n.get().getRole()
                    + ", not a replica");
        }
    }
}

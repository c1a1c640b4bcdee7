package io.metako.server.control;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.FailoverStarted;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.SetPaused;
import io.metako.server.state.Nodes;
import java.util.List;
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

    /**
     * The change {@code r} asks of the cluster-wide settings ({@code config set}: its assignments; {@code config
     * edit}: its YAML), checked by the file's rules and by what a running cluster can take.
     */
    public static io.metako.server.config.SettingsChange settingsChange(ClusterState s,
                                                                        io.metako.proto.v1.SetSettingsRequest r) {
        requireSeeded(s);
        if (r.getYaml().length() > 65_536 || r.getSetCount() > 100) {
            throw new Refusal(Refusal.Kind.BAD_REQUEST, "a settings change is at most 100 assignments or 64 KiB of"
                    + " YAML; there are " + io.metako.server.config.ClusterSettingsKeys.of(s.getSettings()).size()
                    + " cluster-wide settings");
        }
        if (r.getSetCount() > 0 && !r.getYaml().isEmpty()) {
            throw new Refusal(Refusal.Kind.BAD_REQUEST, "give assignments (config set) or a YAML document (config"
                    + " edit), not both");
        }
        if (r.getExpectedCount() > 0
                && !r.getExpectedList().equals(io.metako.server.config.ClusterSettingsKeys.of(s.getSettings()))) {
            throw new Refusal(Refusal.Kind.NOT_NOW, "the cluster-wide settings changed since they were read (another"
                    + " change landed first); look at metakoctl config show and make the change again");
        }
        try {
            return r.getYaml().isEmpty()
                    ? io.metako.server.config.SettingsChange.set(s.getSettings(), s.getSynchronousStandbysList(),
                    r.getSetList(), s.getNodesCount())
                    : io.metako.server.config.SettingsChange.replace(s.getSettings(), s.getSynchronousStandbysList(),
                    r.getYaml(), s.getNodesCount());
        } catch (io.metako.server.config.ConfigException e) {
            throw new Refusal(Refusal.Kind.BAD_REQUEST, e.getMessage());
        }
    }

    /** The log entry of {@code change}: applied only while the settings in force are still those of {@code s}. */
    public static Command.Builder setSettings(ClusterState s, io.metako.server.config.SettingsChange change,
                                              String requestedBy) {
        return Command.newBuilder().setEpoch(s.getEpoch()).setSetClusterSettings(
                io.metako.proto.v1.SetClusterSettings.newBuilder().setSettings(change.settings())
                        .setExpected(s.getSettings()).addAllChanges(change.changes())
                        .setRequestedBy(shortened(requestedBy)));
    }

    /** A node into the topology, QUARANTINED until it streams from the primary (or its manager has cloned it). */
    public static Command.Builder addNode(ClusterState s, io.metako.proto.v1.AddNodeRequest r) {
        requireSeeded(s);
        Node node = Node.newBuilder().setName(r.getName().strip()).setHost(r.getHost().strip()).setPort(r.getPort())
                .setDatabase(r.getDatabase().strip()).setTags(r.getTags()).build();
        String problem = Nodes.problemOf(node);
        if (problem != null) {
            throw new Refusal(Refusal.Kind.BAD_REQUEST, problem + " (e.g. metakoctl node add pg-4 10.0.0.14:5432)");
        }
        return Command.newBuilder().setEpoch(s.getEpoch()).setAddNode(io.metako.proto.v1.AddNode.newBuilder()
                .setNode(node)
                .setClone(r.getClone()).setRequestedBy(shortened(r.getRequestedBy())));
    }

    /** A node out of the topology (the state machine refuses the primary and nodes an operation involves). */
    public static Command.Builder removeNode(ClusterState s, io.metako.proto.v1.RemoveNodeRequest r) {
        requireSeeded(s);
        if (Nodes.named(s, r.getName()).isEmpty()) {
            throw new Refusal(Refusal.Kind.BAD_REQUEST, "there is no node '" + r.getName() + "' (metakoctl list names them)");
        }
        return Command.newBuilder().setEpoch(s.getEpoch()).setRemoveNode(io.metako.proto.v1.RemoveNode.newBuilder()
                .setNode(r.getName()).setRequestedBy(shortened(r.getRequestedBy())));
    }

    /** What a client says of itself, for the history: at most 64 printable characters. */
    private static String shortened(String requestedBy) {
        String printable = requestedBy.replaceAll("[^\\x20-\\x7e]", "?");
        return printable.length() > 64 ? printable.substring(0, 64) : printable;
    }

    /** A planned switchover to {@code target}, or to the best candidate when it is empty. */
    public static Command.Builder switchover(ControllerView view, String target) {
        ClusterState s = view.state();
        requireIdle(s);
        String primary = s.getPrimary();
        if (view.health(primary) != MajorityHealth.HEALTHY) {
            throw new Refusal(Refusal.Kind.NOT_NOW, "the primary " + primary
                    + " is not healthy by majority: a switchover needs it to hand over; use failover --to NODE");
        }
        Candidates.Choice choice = Candidates.choose(view, primary);
        String chosen = target.isEmpty() ? choice.eligible().stream().map(c -> c.node().getName()).findFirst()
                .orElseThrow(() -> new Refusal(Refusal.Kind.NOT_NOW,
                        "no replica can take over: " + choice.whyNone()))
                : target;
        requireReplica(s, chosen);
        if (choice.eligible().stream().noneMatch(c -> c.node().getName().equals(chosen))) {
            throw new Refusal(Refusal.Kind.NOT_NOW, chosen + " cannot take over now: "
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
            throw new Refusal(Refusal.Kind.BAD_REQUEST, "failover needs a target: --to NODE");
        }
        requireIdle(s);
        requireReplica(s, target);
        MajorityHealth h = view.health(target);
        if (h != MajorityHealth.HEALTHY && !force) {
            throw new Refusal(Refusal.Kind.NOT_NOW, target + " is " + h
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
            throw new Refusal(Refusal.Kind.NOT_NOW, "no failover or switchover is in progress"
                    + " (epoch " + s.getEpoch() + ", primary " + (s.getPrimary().isEmpty() ? "none" : s.getPrimary()) + ")");
        }
        io.metako.proto.v1.Operation op = s.getOperation();
        io.metako.proto.v1.NodeObservation target = view.observations().get(op.getTarget());
        if (target != null && target.getReachable() && !target.getInRecovery()) {
            throw new Refusal(Refusal.Kind.NOT_NOW, op.getTarget() + " has left recovery: it was"
                    + " promoted, and the " + op.getKind() + " completes on its own; an abort now would leave two primaries");
        }
        String why = "asked by an operator" + (reason.isBlank() ? "" : ": " + reason.strip());
        return Command.newBuilder().setEpoch(s.getEpoch()).setFailoverAborted(
                io.metako.proto.v1.FailoverAborted.newBuilder().setReason(why).setTarget(op.getTarget()));
    }

    /**
     * A rejoin of the QUARANTINED {@code node} now, by the cluster's method: with {@code rejoin.auto} off, or to try
     * again at once after a failed attempt. Refused while the primary is not healthy or nothing manages the node.
     */
    public static Command.Builder rejoin(ControllerView view, String node) {
        ClusterState s = view.state();
        requireIdle(s);
        Node n = requireNode(s, node);
        if (n.getRole() != NodeRole.QUARANTINED) {
            throw new Refusal(Refusal.Kind.NOT_NOW, node + " is " + n.getRole()
                    + ": only a quarantined node rejoins" + (n.getRole() == NodeRole.REPLICA
                            ? " (metakoctl reinit " + node + " rebuilds a replica)" : ""));
        }
        requireRebuildable(view, n);
        boolean addedForAClone = n.getRejoin().getReinit() && n.getRejoin().getAttempt() == 0; // node add --clone
        return Command.newBuilder().setEpoch(s.getEpoch()).setRejoinStarted(io.metako.proto.v1.RejoinStarted.newBuilder()
                .setNode(node).setMethod(addedForAClone ? "clone" : Rejoins.method(s)));
    }

    /**
     * Wipes the replica {@code node} and clones it afresh from the primary (Patroni's reinit): it takes no reads and
     * is promoted by nobody until it streams again. Refused for the primary, during an operation, and for a
     * synchronous standby that commits cannot do without.
     */
    public static Command.Builder reinit(ControllerView view, String node) {
        ClusterState s = view.state();
        requireIdle(s);
        Node n = requireNode(s, node);
        if (n.getName().equals(s.getPrimary())) {
            throw new Refusal(Refusal.Kind.NOT_NOW, node + " is the primary: it cannot be"
                    + " cloned from itself (switch over first, then reinit it)");
        }
        if (n.getRole() != NodeRole.REPLICA && n.getRole() != NodeRole.QUARANTINED) {
            throw new Refusal(Refusal.Kind.NOT_NOW, node + " is " + n.getRole()
                    + ": only a replica or a quarantined node is rebuilt");
        }
        int required = s.getSettings().getReplication().getSyncStandbys();
        if (SynchronousSet.syncMode(s) && s.getSynchronousStandbysList().contains(node)) {
            // the others must take the commits now: listed is not enough, they must be healthy and streaming
            Node primary = requireNode(s, s.getPrimary());
            List<String> able = s.getSynchronousStandbysList().stream().filter(m -> !m.equals(node))
                    .filter(m -> s.getNodesList().stream().anyMatch(x -> x.getName().equals(m) && x.getRole() == NodeRole.REPLICA))
                    .filter(m -> view.health(m) == MajorityHealth.HEALTHY)
                    .filter(m -> Rejoins.streamsFrom(view.observations().get(m), primary,
                            view.observations().getOrDefault(primary.getName(), io.metako.proto.v1.NodeObservation.getDefaultInstance())))
                    .toList();
            if (able.size() < required) {
                throw new Refusal(Refusal.Kind.NOT_NOW, node + " is one of the synchronous"
                        + " standbys " + s.getSynchronousStandbysList() + " that commits wait for (ANY " + required
                        + "), and without it " + (able.isEmpty() ? "none" : "only " + able) + " healthy and streaming"
                        + " would take them: commits would block; add or repair a replica first");
            }
        }
        requireRebuildable(view, n);
        return Command.newBuilder().setEpoch(s.getEpoch()).setRejoinStarted(io.metako.proto.v1.RejoinStarted.newBuilder()
                .setNode(node).setMethod("clone").setReinit(true));
    }

    private static void requireRebuildable(ControllerView view, Node n) {
        ClusterState s = view.state();
        if (n.getManagingInstance().isEmpty()) {
            throw new Refusal(Refusal.Kind.NOT_NOW, "no instance manages " + n.getName()
                    + ": set instance.manages on the instance beside it, or repair it by hand (it is taken back once it"
                    + " streams from " + s.getPrimary() + ")");
        }
        if (view.health(s.getPrimary()) != MajorityHealth.HEALTHY) {
            throw new Refusal(Refusal.Kind.NOT_NOW, "the primary " + s.getPrimary()
                    + " is not healthy by majority: a node is rebuilt only from a primary that stays");
        }
        io.metako.proto.v1.NodeRejoin r = n.getRejoin();
        if (r.getAttempt() > 0 && r.getEpoch() == s.getEpoch() && r.getFinishedMillis() == 0) {
            throw new Refusal(Refusal.Kind.NOT_NOW, "attempt " + r.getAttempt() + " to rejoin "
                    + n.getName() + " is still running on " + n.getManagingInstance());
        }
    }

    private static Node requireNode(ClusterState s, String name) {
        if (name.isEmpty()) {
            throw new Refusal(Refusal.Kind.BAD_REQUEST, "name a node; nodes: "
                    + s.getNodesList().stream().map(Node::getName).toList());
        }
        return s.getNodesList().stream().filter(x -> x.getName().equals(name)).findFirst()
                .orElseThrow(() -> new Refusal(Refusal.Kind.BAD_REQUEST, "unknown node '" + name
                        + "'; nodes: " + s.getNodesList().stream().map(Node::getName).toList()));
    }

    private static Command.Builder start(ClusterState s, EventKind kind, String target, boolean forced, String reason,
                                         Candidates.Choice choice) {
        return Command.newBuilder().setEpoch(s.getEpoch()).setFailoverStarted(FailoverStarted.newBuilder()
                .setKind(kind).setOldPrimary(s.getPrimary()).setTarget(target).setReason(reason).setForced(forced)
                .addAllCandidates(choice.seen()));
    }

    private static void requireSeeded(ClusterState s) {
        if (!s.getSeeded()) {
            throw new Refusal(Refusal.Kind.NOT_NOW, "the cluster is not seeded yet");
        }
    }

    private static void requireIdle(ClusterState s) {
        requireSeeded(s);
        if (s.hasOperation()) {
            throw new Refusal(Refusal.Kind.NOT_NOW, "a " + s.getOperation().getKind()
                    + " to " + s.getOperation().getTarget() + " is in progress at epoch " + s.getEpoch());
        }
        if (s.getPrimary().isEmpty()) {
            throw new Refusal(Refusal.Kind.NOT_NOW, "there is no primary to take over from");
        }
    }

    private static void requireReplica(ClusterState s, String name) {
        Optional<Node> n = s.getNodesList().stream().filter(x -> x.getName().equals(name)).findFirst();
        if (n.isEmpty()) {
            throw new Refusal(Refusal.Kind.BAD_REQUEST, "unknown node '" + name + "'; nodes: "
                    + s.getNodesList().stream().map(Node::getName).toList());
        }
        if (n.get().getRole() != NodeRole.REPLICA) {
            throw new Refusal(Refusal.Kind.BAD_REQUEST, name + " is " + n.get().getRole()
                    + ", not a replica");
        }
    }
}

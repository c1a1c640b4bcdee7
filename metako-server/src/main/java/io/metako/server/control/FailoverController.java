package io.metako.server.control;

import io.metako.server.state.Nodes;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import io.metako.proto.v1.FailoverAborted;
import io.metako.proto.v1.FailoverCompleted;
import io.metako.proto.v1.FailoverStarted;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The loop around {@link FailoverDecider}: every tick it builds the view, decides, and, on the
 * Raft leader only, carries out the actions (SQL on the nodes, commands through the log). Every
 * instance decides, so every status answer carries a sentence; only the leader acts.
 */
public final class FailoverController {
    private static final Logger LOG = LoggerFactory.getLogger(FailoverController.class);
    private static final long REPEAT_SQL_MILLIS = 3_000;

    /** What the controller reads from the running instance. */
    public interface Inputs {
        ClusterState state();

        Map<String, NodeObservation> observations();

        /** The Raft configuration's voters: their verdicts make a node's health. */
        List<String> members();

        /** Every instance an epoch must be acknowledged by: the voters and the registered instances. */
        default List<String> acknowledgers() {
            return members();
        }

        boolean isLeader();

        /** On the leader: members it has had no message at all from for a long while (dead, or cut off). */
        default Set<String> unresponsiveMembers() {
            return Set.of();
        }

        long term();
    }

    private final String instanceId;
    private final Inputs inputs;
    private final NodeOperations operations;
    private final Function<Command, CompletableFuture<CommandResult>> submit;
    private final Clock clock;
    private final Map<String, Long> lastSql = new ConcurrentHashMap<>();
    /** Fence outcomes by "epoch/node", for the history entry of the failover that asked for them. */
    private final Map<String, String> fences = new ConcurrentHashMap<>();
    private volatile String sentence = "starting";
    private volatile java.util.function.Predicate<ControllerAction> gate = a -> true;
    /** The operation in progress and when this instance, as leader, first saw it. */
    private volatile OperationSeen operationSeen;
    /** The last change of primary (by its epoch) and when this process first saw it. */
    private volatile OperationSeen changeSeen;

    public FailoverController(String instanceId, Inputs inputs, NodeOperations operations,
                              Function<Command, CompletableFuture<CommandResult>> submit, Clock clock) {
        this.instanceId = instanceId;
        this.inputs = inputs;
        this.operations = operations;
        this.submit = submit;
        this.clock = clock;
    }

    /** Told how long each pg_promote this controller ran took, in seconds (the metrics). */
    private volatile java.util.function.DoubleConsumer promotions = seconds -> { };

    public void onPromotion(java.util.function.DoubleConsumer listener) {
        promotions = listener;
    }

    public String sentence() {
        return sentence;
    }

    /**
     * Fault-injection seam for tests: an action the gate refuses is not carried out, as if the
     * leader had died just before it. Production code never sets it.
     */
    public void setActionGate(java.util.function.Predicate<ControllerAction> gate) {
        this.gate = gate;
    }

    /** One tick; returns the decision (tests use it). */
    public Decision tick() {
        ClusterState s = inputs.state();
        boolean leader = inputs.isLeader();
        if (!leader) {
            operationSeen = null; // a leader again later counts from then
        }
        ControllerView view = new ControllerView(s, inputs.observations(), inputs.members(),
                leader ? passable(s) : Set.of(), clock.millis(), lastChangeSeenMillis(s),
                leader ? inputs.unresponsiveMembers() : Set.of(), inputs.acknowledgers());
        Decision d = FailoverDecider.decide(view);
        if (!d.reason().equals(sentence)) {
            LOG.info("{}{} (epoch {}, term {})", leader ? "" : "[follower view] ", d.reason(), s.getEpoch(), inputs.term());
            sentence = d.reason();
        }
        if (leader) {
            long term = inputs.term();
            for (ControllerAction a : d.actions()) {
                if (!carryOut(a, s, term)) {
                    break;
                }
            }
        }
        return d;
    }

    /**
     * The members this leader may go on without (their acknowledgement of the operation's epoch
     * missing): all of them once lease + margin has passed, on this process's monotonic clock, since
     * it first saw the operation as leader. Any lease an instance was granted before the operation
     * was committed has run out by then, and a later one covers the new epoch only; silence as Ratis
     * measures it (any RPC, pre-votes too) proves nothing.
     */
    private Set<String> passable(ClusterState s) {
        if (!s.hasOperation()) {
            operationSeen = null;
            return Set.of();
        }
        long now = System.nanoTime();
        OperationSeen seen = operationSeen;
        if (seen == null || seen.epoch() != s.getEpoch()) {
            seen = new OperationSeen(s.getEpoch(), now);
            operationSeen = seen;
        }
        long lease = Math.max(1, s.getSettings().getFailover().getLeaseMillis());
        long wait = TimeUnit.MILLISECONDS.toNanos(lease + io.metako.server.routing.LeaseKeeper.marginMillis(lease));
        return now - seen.sinceNanos() >= wait ? Set.copyOf(inputs.acknowledgers()) : Set.of();
    }

    private record OperationSeen(long epoch, long sinceNanos) {
    }

    /** How long this process has known the last change of primary, on its monotonic clock; -1 if there is none. */
    private long lastChangeSeenMillis(ClusterState s) {
        long lastChangeEpoch = -1;
        for (int i = s.getHistoryCount() - 1; i >= 0; i--) {
            var e = s.getHistory(i);
            if (e.getKind() == io.metako.proto.v1.EventKind.FAILOVER || e.getKind() == io.metako.proto.v1.EventKind.SWITCHOVER) {
                lastChangeEpoch = e.getEpoch();
                break;
            }
        }
        if (lastChangeEpoch < 0) {
            return -1;
        }
        long now = System.nanoTime();
        OperationSeen seen = changeSeen;
        if (seen == null || seen.epoch() != lastChangeEpoch) {
            seen = new OperationSeen(lastChangeEpoch, now);
            changeSeen = seen;
        }
        return TimeUnit.NANOSECONDS.toMillis(now - seen.sinceNanos());
    }

    /** Carries out one action; false when the rest of this tick's actions must wait. */
    private boolean carryOut(ControllerAction action, ClusterState s, long term) {
        if (!gate.test(action)) {
            return false;
        }
        if (!inputs.isLeader() || inputs.term() != term) {
            // a tick can take seconds (SQL on nodes that do not answer): leadership is asked again before each step
            LOG.info("no longer the leader of term {}: {} not carried out", term, action);
            return false;
        }
        try {
            if (action instanceof ControllerAction.StartFailover a) {
                propose(s, term, Command.newBuilder().setFailoverStarted(FailoverStarted.newBuilder()
                        .setKind(io.metako.proto.v1.EventKind.FAILOVER).setOldPrimary(a.oldPrimary())
                        .setTarget(a.target()).setReason(a.reason()).addAllCandidates(a.candidates())));
            } else if (action instanceof ControllerAction.Fence a) {
                if (due("fence/" + a.node())) {
                    try {
                        int ended = operations.fence(node(s, a.node()));
                        fences.put(s.getEpoch() + "/" + a.node(), "confirmed (read-only, " + ended + " client sessions ended)");
                        LOG.info("fenced {} (read-only, {} client sessions ended) at epoch {}", a.node(), ended, s.getEpoch());
                    } catch (Exception e) {
                        fences.put(s.getEpoch() + "/" + a.node(), "not confirmed: " + firstLine(e));
                        throw e;
                    }
                }
            } else if (action instanceof ControllerAction.Unfence a) {
                if (due("unfence/" + a.node())) {
                    operations.unfence(node(s, a.node()));
                    LOG.info("lifted the fence on {}, the primary at epoch {}", a.node(), s.getEpoch());
                }
            } else if (action instanceof ControllerAction.Promote a) {
                ClusterState now = inputs.state();
                if (now.getEpoch() != s.getEpoch() || !now.hasOperation() || !now.getOperation().getTarget().equals(a.node())) {
                    // the operation was aborted or retargeted since this tick decided: promote nothing
                    LOG.info("not promoting {}: the state moved on to epoch {} since this tick decided at epoch {}", a.node(),
                            now.getEpoch(), s.getEpoch());
                    return false;
                }
                long promoteStarted = System.nanoTime();
                long timeline = operations.promote(node(s, a.node()), a.synchronousStandbyNames());
                promotions.accept((System.nanoTime() - promoteStarted) / 1e9);
                LOG.info("promoted {} to timeline {} at epoch {}", a.node(), timeline, s.getEpoch());
                ClusterState after = inputs.state();
                if (!inputs.isLeader() || inputs.term() != term || after.getEpoch() != s.getEpoch() || !after.hasOperation()
                        || !after.getOperation().getTarget().equals(a.node())) {
                    // pg_promote can take seconds: an abort, a retarget or a new leader came meanwhile, so the log will
                    // not name this node primary, and it takes no writes
                    int ended = operations.fence(node(s, a.node()));
                    LOG.warn("{} was promoted but the operation moved on (epoch {} -> {}, leader {}): fenced it ({} client"
                            + " sessions ended); it stays out of the topology until it rejoins", a.node(), s.getEpoch(),
                            after.getEpoch(), inputs.isLeader() && inputs.term() == term ? "still" : "no more", ended);
                    return false;
                }
                propose(s, term, Command.newBuilder().setFailoverCompleted(FailoverCompleted.newBuilder()
                        .setNewPrimary(a.node()).setTimeline(timeline).setFence(fenceOf(s))));
            } else if (action instanceof ControllerAction.CompleteFailover a) {
                propose(s, term, Command.newBuilder().setFailoverCompleted(FailoverCompleted.newBuilder()
                        .setNewPrimary(a.node()).setTimeline(a.timeline()).setFence(fenceOf(s))));
            } else if (action instanceof ControllerAction.RetargetFailover a) {
                propose(s, term, Command.newBuilder().setFailoverRetargeted(
                        io.metako.proto.v1.FailoverRetargeted.newBuilder().setTarget(a.target()).setReason(a.reason())));
            } else if (action instanceof ControllerAction.AbortFailover a) {
                propose(s, term, Command.newBuilder().setFailoverAborted(FailoverAborted.newBuilder().setReason(a.reason())));
            } else if (action instanceof ControllerAction.SetSyncSet a) {
                propose(s, term, Command.newBuilder().setSetSynchronousStandbys(
                        io.metako.proto.v1.SetSynchronousStandbys.newBuilder().addAllNames(a.names())));
            } else if (action instanceof ControllerAction.ConfigureSync a) {
                String value = SynchronousSet.setting(a.names(), a.n());
                if (due("sync/" + a.primary() + "/" + value)) {
                    operations.configureSync(node(s, a.primary()), value);
                    LOG.info("synchronous_standby_names on {} set to '{}' at epoch {}", a.primary(), value, s.getEpoch());
                }
            } else if (action instanceof ControllerAction.StartRejoin a) {
                propose(s, term, Command.newBuilder().setRejoinStarted(io.metako.proto.v1.RejoinStarted.newBuilder()
                        .setNode(a.node()).setMethod(a.method())));
            } else if (action instanceof ControllerAction.CompleteRejoin a) {
                propose(s, term, Command.newBuilder().setRejoinCompleted(io.metako.proto.v1.RejoinCompleted.newBuilder()
                        .setNode(a.node()).setAdopted(a.adopted()).setAttempt(a.attempt())));
            } else if (action instanceof ControllerAction.Repoint a && due("repoint/" + a.replica() + "->" + a.primary())) {
                operations.repoint(node(s, a.replica()), node(s, a.primary()));
                LOG.info("re-pointed {} to {} at epoch {}", a.replica(), a.primary(), s.getEpoch());
            }
            return true;
        } catch (Exception e) {
            LOG.warn("{} failed at epoch {}: {}", action, s.getEpoch(), firstLine(e));
            // fencing is best effort: a dead old primary must not stop the promotion
            return action instanceof ControllerAction.Fence;
        }
    }

    private void propose(ClusterState s, long term, Command.Builder command) throws Exception {
        Command c = command.setEpoch(s.getEpoch()).setTimeMillis(clock.millis()).setProposer(instanceId)
                .setProposerTerm(term).build();
        CommandResult r = submit.apply(c).get(10, TimeUnit.SECONDS);
        if (!r.getApplied()) {
            throw new IllegalStateException("not applied: " + r.getRejection());
        }
        LOG.info("applied {} at index {}: epoch {}", c.getKindCase(), r.getLogIndex(), r.getEpoch());
    }

    /**
     * What this leader knows of the old primary's fence for the operation in {@code s}, for the history:
     * an old primary it could not reach may still take writes from clients that bypass metako.
     */
    private String fenceOf(ClusterState s) {
        if (!s.hasOperation()) {
            return "";
        }
        String old = s.getOperation().getOldPrimary();
        String known = fences.get(s.getEpoch() + "/" + old);
        if (known != null) {
            return known;
        }
        io.metako.proto.v1.NodeObservation o = inputs.observations().get(old);
        if (o != null && o.getReachable() && o.getReadOnly()) {
            return "confirmed (seen read-only)";
        }
        return "not confirmed: " + old + (o == null || !o.getReachable() ? " was unreachable" : " was not seen read-only")
                + " (clients that bypass metako may still write to it)";
    }

    private boolean due(String key) {
        long now = TimeUnit.NANOSECONDS.toMillis(System.nanoTime()); // not the wall clock: a step must not stop or flood repeats
        Long last = lastSql.get(key);
        if (last != null && now - last < REPEAT_SQL_MILLIS) {
            return false;
        }
        lastSql.put(key, now);
        return true;
    }

    private static Node node(ClusterState s, String name) {
        return Nodes.named(s, name)
                .orElseThrow(() -> new IllegalStateException("unknown node " + name));
    }

    private static String firstLine(Exception e) {
        return io.metako.server.logging.Failures.firstLine(e);
    }
}

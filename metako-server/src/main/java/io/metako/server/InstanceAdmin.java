package io.metako.server;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import io.metako.proto.v1.ListMembersResponse;
import io.metako.server.api.AdminBackend;
import io.metako.server.api.AdminException;
import io.metako.server.control.OperatorActions;
import java.time.Clock;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin API's backend on one instance: what it reads (status, members, settings, history) comes from the running
 * {@link MetakoInstance}; what operators ask for is decided by {@link OperatorActions} on this instance's view, sent
 * through the Raft log (the Raft client finds the leader) and answered once applied, or refused with the reason.
 */
final class InstanceAdmin implements AdminBackend {
    private static final Logger LOG = LoggerFactory.getLogger(InstanceAdmin.class);
    private final MetakoInstance instance;
    private final String instanceId;
    private final Clock clock;

    InstanceAdmin(MetakoInstance instance, String instanceId, Clock clock) {
        this.instance = instance;
        this.instanceId = instanceId;
        this.clock = clock;
    }

    @Override
    public ClusterStatus status() {
        return instance.status();
    }

    @Override
    public ListMembersResponse members() {
        return instance.members();
    }

    @Override
    public AutoCloseable onChange(Runnable listener) {
        return instance.onChange(listener);
    }

    @Override
    public io.metako.proto.v1.ReloadResponse reload() {
        return instance.reload();
    }

    @Override
    public io.metako.proto.v1.GetSettingsResponse settings() {
        if (!instance.state().getSeeded()) {
            throw new AdminException(AdminException.Kind.UNAVAILABLE, "the cluster is not seeded yet: no settings are in"
                    + " force (the first leader seeds them from its file)");
        }
        return io.metako.proto.v1.GetSettingsResponse.newBuilder().addAllSettings(
                io.metako.server.config.ClusterSettingsKeys.of(instance.state().getSettings())).build();
    }

    @Override
    public io.metako.proto.v1.SetSettingsResponse setSettings(io.metako.proto.v1.SetSettingsRequest request) {
        ClusterState s = instance.state();
        io.metako.server.config.SettingsChange change;
        try {
            change = OperatorActions.settingsChange(s, request);
        } catch (io.metako.server.control.Refusal r) {
            throw adminError(r);
        }
        var answer = io.metako.proto.v1.SetSettingsResponse.newBuilder().addAllChanges(change.changes())
                .addAllSettings(io.metako.server.config.ClusterSettingsKeys.of(change.settings()));
        if (request.getDryRun() || change.changes().isEmpty()) {
            return answer.build();
        }
        return answer.setResult(mutate(() -> OperatorActions.setSettings(s, change, request.getRequestedBy()))).build();
    }

    @Override
    public io.metako.proto.v1.GetHistoryResponse history() {
        return io.metako.proto.v1.GetHistoryResponse.newBuilder().addAllEvents(instance.state().getHistoryList()).build();
    }

    @Override
    public io.metako.proto.v1.MutationResponse setPaused(boolean paused, String reason) {
        return mutate(() -> OperatorActions.pause(instance.state(), paused, reason));
    }

    @Override
    public io.metako.proto.v1.MutationResponse switchover(String target) {
        return mutate(() -> OperatorActions.switchover(instance.operatorView(), target));
    }

    @Override
    public io.metako.proto.v1.MutationResponse failover(String target, boolean force) {
        return mutate(() -> OperatorActions.failover(instance.operatorView(), target, force));
    }

    @Override
    public io.metako.proto.v1.MutationResponse abort(String reason) {
        return mutate(() -> OperatorActions.abort(instance.operatorView(), reason));
    }

    @Override
    public io.metako.proto.v1.MutationResponse rejoin(String node) {
        return mutate(() -> OperatorActions.rejoin(instance.operatorView(), node));
    }

    @Override
    public io.metako.proto.v1.MutationResponse addNode(io.metako.proto.v1.AddNodeRequest request) {
        return mutate(() -> OperatorActions.addNode(instance.state(), request));
    }

    @Override
    public io.metako.proto.v1.MutationResponse removeNode(io.metako.proto.v1.RemoveNodeRequest request) {
        return mutate(() -> OperatorActions.removeNode(instance.state(), request));
    }

    @Override
    public io.metako.proto.v1.MutationResponse reinit(String node) {
        return mutate(() -> OperatorActions.reinit(instance.operatorView(), node));
    }

    @Override
    public io.metako.proto.v1.MutationResponse addMember(io.metako.proto.v1.AddMemberRequest request) {
        return instance.membership().add(request);
    }

    @Override
    public io.metako.proto.v1.MutationResponse removeMember(io.metako.proto.v1.RemoveMemberRequest request) {
        return instance.membership().remove(request);
    }

    /** Sends an operator's command through the log (the Raft client finds the leader) and waits for it. */
    private io.metako.proto.v1.MutationResponse mutate(java.util.function.Supplier<Command.Builder> decide) {
        Command.Builder command;
        try {
            command = decide.get();
        } catch (io.metako.server.control.Refusal r) {
            throw adminError(r);
        }
        Command c = command.setTimeMillis(clock.millis()).setProposer(instanceId).build();
        CommandResult r;
        try {
            r = instance.submit(c).get(10, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
            throw new AdminException(AdminException.Kind.UNAVAILABLE, "the Raft group did not commit it within 10s"
                    + instance.raft().leaderId().map(l -> " (leader " + l + ")").orElse(" (no leader known)"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AdminException(AdminException.Kind.UNAVAILABLE, "interrupted");
        }
        if (!r.getApplied()) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, r.getRejection());
        }
        LOG.info("operator request {} applied at index {} (epoch {})", c.getKindCase(), r.getLogIndex(), r.getEpoch());
        return io.metako.proto.v1.MutationResponse.newBuilder().setApplied(true).setEpoch(r.getEpoch())
                .setLeaderId(instance.raft().leaderId().orElse("")).setMessage(describe(c) + " accepted at log index "
                        + r.getLogIndex() + ", epoch " + r.getEpoch()).build();
    }

    private static AdminException adminError(io.metako.server.control.Refusal r) {
        return new AdminException(r.kind() == io.metako.server.control.Refusal.Kind.BAD_REQUEST
                ? AdminException.Kind.INVALID_ARGUMENT : AdminException.Kind.FAILED_PRECONDITION, r.getMessage());
    }

    private static String describe(Command c) {
        return switch (c.getKindCase()) {
            case SET_PAUSED -> c.getSetPaused().getPaused() ? "pause" : "resume";
            case FAILOVER_STARTED -> c.getFailoverStarted().getKind().name().toLowerCase(java.util.Locale.ROOT)
                    + " to " + c.getFailoverStarted().getTarget();
            case FAILOVER_ABORTED -> "abort of the operation to " + c.getFailoverAborted().getTarget()
                    + " (the old primary is primary again)";
            case REJOIN_STARTED -> (c.getRejoinStarted().getReinit() ? "reinit (a fresh clone) of "
                    : "rejoin (" + c.getRejoinStarted().getMethod() + ") of ") + c.getRejoinStarted().getNode()
                    + "; follow it with metakoctl watch";
            case ADD_NODE -> "node add of " + c.getAddNode().getNode().getName() + " (it takes traffic once it streams"
                    + " from the primary; follow it with metakoctl watch)";
            case REMOVE_NODE -> "node remove of " + c.getRemoveNode().getNode();
            case SET_CLUSTER_SETTINGS -> "settings change (" + c.getSetClusterSettings().getChangesList().stream()
                    .map(x -> x.getKey() + "=" + x.getNewValue()).collect(java.util.stream.Collectors.joining(", ")) + ")";
            default -> c.getKindCase().name();
        };
    }
}

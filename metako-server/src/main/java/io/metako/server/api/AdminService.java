package io.metako.server.api;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.FailoverRequest;
import io.metako.proto.v1.GetHistoryRequest;
import io.metako.proto.v1.GetHistoryResponse;
import io.metako.proto.v1.GetStatusRequest;
import io.metako.proto.v1.MutationResponse;
import io.metako.proto.v1.PauseRequest;
import io.metako.proto.v1.ResumeRequest;
import io.metako.proto.v1.SwitchoverRequest;
import io.metako.proto.v1.ListMembersRequest;
import io.metako.proto.v1.ListMembersResponse;
import io.metako.proto.v1.MetakoAdminGrpc;
import io.metako.proto.v1.WatchStatusRequest;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Thin gRPC adapter over {@link AdminBackend}; errors leave as a {@link Status} with a description. */
final class AdminService extends MetakoAdminGrpc.MetakoAdminImplBase {
    private static final Logger LOG = LoggerFactory.getLogger(AdminService.class);

    private final AdminBackend source;
    private final Executor watchExecutor;

    AdminService(AdminBackend source, Executor watchExecutor) {
        this.source = source;
        this.watchExecutor = watchExecutor;
    }

    @Override
    public void getStatus(GetStatusRequest request, StreamObserver<ClusterStatus> response) {
        try {
            response.onNext(source.status());
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(internal(e));
        }
    }

    @Override
    public void listMembers(ListMembersRequest request, StreamObserver<ListMembersResponse> response) {
        answer(response, source::members);
    }

    @Override
    public void getHistory(GetHistoryRequest request, StreamObserver<GetHistoryResponse> response) {
        answer(response, source::history);
    }

    @Override
    public void getSettings(io.metako.proto.v1.GetSettingsRequest request,
                            StreamObserver<io.metako.proto.v1.GetSettingsResponse> response) {
        answer(response, source::settings);
    }

    @Override
    public void setSettings(io.metako.proto.v1.SetSettingsRequest request,
                            StreamObserver<io.metako.proto.v1.SetSettingsResponse> response) {
        answer(response, () -> source.setSettings(request));
    }

    @Override
    public void reload(io.metako.proto.v1.ReloadRequest request,
                       StreamObserver<io.metako.proto.v1.ReloadResponse> response) {
        answer(response, source::reload);
    }

    @Override
    public void addNode(io.metako.proto.v1.AddNodeRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.addNode(request));
    }

    @Override
    public void removeNode(io.metako.proto.v1.RemoveNodeRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.removeNode(request));
    }

    @Override
    public void addMember(io.metako.proto.v1.AddMemberRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.addMember(request));
    }

    @Override
    public void removeMember(io.metako.proto.v1.RemoveMemberRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.removeMember(request));
    }

    @Override
    public void pause(PauseRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.setPaused(true, request.getReason()));
    }

    @Override
    public void resume(ResumeRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.setPaused(false, ""));
    }

    @Override
    public void switchover(SwitchoverRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.switchover(request.getTarget()));
    }

    @Override
    public void failover(FailoverRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.failover(request.getTarget(), request.getForce()));
    }

    @Override
    public void abort(io.metako.proto.v1.AbortRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.abort(request.getReason()));
    }

    @Override
    public void rejoin(io.metako.proto.v1.RejoinRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.rejoin(request.getNode()));
    }

    @Override
    public void reinit(io.metako.proto.v1.ReinitRequest request, StreamObserver<MutationResponse> response) {
        answer(response, () -> source.reinit(request.getNode()));
    }

    private static <T> void answer(StreamObserver<T> response, java.util.function.Supplier<T> call) {
        T result;
        try {
            result = call.get();
        } catch (AdminException e) {
            response.onError(statusOf(e).withDescription(e.getMessage()).asRuntimeException());
            return;
        } catch (RuntimeException e) {
            response.onError(internal(e));
            return;
        }
        response.onNext(result);
        response.onCompleted();
    }

    /** The one mapping from refusals to gRPC codes. */
    private static Status statusOf(AdminException e) {
        return switch (e.kind()) {
            case INVALID_ARGUMENT -> Status.INVALID_ARGUMENT;
            case FAILED_PRECONDITION -> Status.FAILED_PRECONDITION;
            case UNAVAILABLE -> Status.UNAVAILABLE;
        };
    }

    /**
     * Sends the status now and after every change. Changes that arrive while a send is pending
     * are coalesced into that send, so a slow watcher never holds up the state machine; while
     * the client does not read (the transport is not ready) nothing is queued, and the latest
     * status goes out once it is ready again.
     */
    @Override
    public void watchStatus(WatchStatusRequest request, StreamObserver<ClusterStatus> response) {
        ServerCallStreamObserver<ClusterStatus> call = (ServerCallStreamObserver<ClusterStatus>) response;
        AtomicBoolean pending = new AtomicBoolean(false);
        AtomicBoolean missed = new AtomicBoolean(false);
        AtomicReference<AutoCloseable> subscription = new AtomicReference<>();
        Runnable send = () -> {
            pending.set(false);
            if (call.isCancelled()) {
                return;
            }
            try {
                synchronized (call) {
                    if (!call.isReady()) {
                        missed.set(true);
                        return;
                    }
                    call.onNext(source.status());
                }
            } catch (RuntimeException e) {
                LOG.debug("watch stream closed: {}", e.toString());
            }
        };
        Runnable onChange = () -> {
            if (pending.compareAndSet(false, true)) {
                watchExecutor.execute(send);
            }
        };
        call.setOnCancelHandler(() -> closeQuietly(subscription.get()));
        call.setOnReadyHandler(() -> {
            if (missed.getAndSet(false)) {
                onChange.run();
            }
        });
        subscription.set(source.onChange(onChange));
        onChange.run();
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception ignored) {
            // nothing left to release
        }
    }

    private static io.grpc.StatusRuntimeException internal(RuntimeException e) {
        LOG.warn("admin call failed", e);
        return Status.INTERNAL.withDescription(e.getMessage()).asRuntimeException();
    }
}

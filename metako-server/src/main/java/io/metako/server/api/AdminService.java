package io.metako.server.api;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.GetStatusRequest;
import io.metako.proto.v1.ListMembersRequest;
import io.metako.proto.v1.ListMembersResponse;
import io.metako.proto.v1.MetakoAdminGrpc;
import io.metako.proto.v1.WatchStatusRequest;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Thin gRPC adapter over {@link StatusSource}; errors leave as a {@link Status} with a description. */
final class AdminService extends MetakoAdminGrpc.MetakoAdminImplBase {
    private static final Logger LOG = LoggerFactory.getLogger(AdminService.class);

    private final StatusSource source;
    private final Executor watchExecutor;

    AdminService(StatusSource source, Executor watchExecutor) {
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
        try {
            response.onNext(source.members());
            response.onCompleted();
        } catch (RuntimeException e) {
            response.onError(internal(e));
        }
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

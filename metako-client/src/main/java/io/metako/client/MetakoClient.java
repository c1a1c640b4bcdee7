package io.metako.client;

import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Java client of the metako admin API. It knows several instances' endpoints: a call goes to
 * the one that answered last and moves on to the next when an instance is down or too slow.
 * Every unary call has a deadline. Reads and pause/resume are retried on the next endpoint;
 * switchover and failover only when an endpoint could not be reached at all.
 */
public final class MetakoClient implements AutoCloseable {
    private static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final List<String> endpoints;
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final Metadata auth = new Metadata();
    private final Duration deadline;
    private int preferred;

    public MetakoClient(List<String> endpoints, String token, Duration deadline) {
        this(endpoints, token, deadline, null);
    }

    /**
     * TLS toward the instances' admin API: the CA their certificates are signed by, and, for an instance that
     * asks for client certificates (mutual TLS), this client's certificate chain and PKCS#8 key (both PEM).
     */
    public record Tls(java.nio.file.Path caCert, java.nio.file.Path cert, java.nio.file.Path key) {
        public Tls {
            java.util.Objects.requireNonNull(caCert, "caCert");
            if ((cert == null) != (key == null)) {
                throw new IllegalArgumentException("a client certificate needs its key, and a key its certificate (--cert and --key)");
            }
        }
    }

    /** {@code tls} null: plaintext (an instance without {@code security.api_tls_enabled}). */
    public MetakoClient(List<String> endpoints, String token, Duration deadline, Tls tls) {
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("no endpoints: pass --endpoints host:port[,host:port...] or set METAKO_ENDPOINTS");
        }
        this.endpoints = List.copyOf(endpoints);
        this.deadline = deadline;
        if (token != null && !token.isEmpty()) {
            auth.put(AUTHORIZATION, "Bearer " + token);
        }
        this.tls = tls != null;
        io.grpc.netty.shaded.io.netty.handler.ssl.SslContext context = tls == null ? null : clientContext(tls);
        for (String e : this.endpoints) {
            channels.add(context == null ? NettyChannelBuilder.forTarget(e).usePlaintext().build()
                    : NettyChannelBuilder.forTarget(e).sslContext(context).build());
        }
    }

    private final boolean tls;

    private static io.grpc.netty.shaded.io.netty.handler.ssl.SslContext clientContext(Tls tls) {
        try {
            var b = io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts.forClient().trustManager(tls.caCert().toFile());
            if (tls.cert() != null) {
                b.keyManager(tls.cert().toFile(), tls.key().toFile());
            }
            return b.build();
        } catch (javax.net.ssl.SSLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot use the TLS files (--cacert " + tls.caCert()
                    + (tls.cert() == null ? "" : ", --cert " + tls.cert() + ", --key " + tls.key()) + "): " + e.getMessage());
        }
    }

    /** Parses {@code host:port,host:port}. */
    public static List<String> parseEndpoints(String text) {
        List<String> out = new ArrayList<>();
        if (text == null) {
            return out;
        }
        for (String part : text.split(",")) {
            String e = part.trim();
            if (e.isEmpty()) {
                continue;
            }
            int colon = e.lastIndexOf(':');
            if (colon <= 0 || !e.substring(colon + 1).matches("\\d{1,5}")) {
                throw new IllegalArgumentException("endpoint '" + e + "' is not host:port");
            }
            out.add(e);
        }
        return out;
    }

    public ClusterStatus status() {
        return call(stub -> stub.getStatus(GetStatusRequest.getDefaultInstance()));
    }

    public ListMembersResponse members() {
        return call(stub -> stub.listMembers(ListMembersRequest.getDefaultInstance()));
    }

    /** The cluster-wide settings in force (the replicated ones), by their configuration keys. */
    public io.metako.proto.v1.GetSettingsResponse settings() {
        return call(stub -> stub.getSettings(io.metako.proto.v1.GetSettingsRequest.getDefaultInstance()));
    }

    /**
     * Changes cluster-wide settings through the log ({@code dry_run}: only checks and answers the changes). Not
     * retried after a timeout.
     */
    public io.metako.proto.v1.SetSettingsResponse setSettings(io.metako.proto.v1.SetSettingsRequest request) {
        return request.getDryRun() ? call(stub -> stub.setSettings(request)) : mutate(stub -> stub.setSettings(request));
    }

    /** The answering instance reads its configuration file again (as SIGHUP does); not retried after a timeout. */
    public io.metako.proto.v1.ReloadResponse reload() {
        return mutate(stub -> stub.reload(io.metako.proto.v1.ReloadRequest.getDefaultInstance()));
    }

    /** Adds a node to the topology (it takes traffic once it streams from the primary). Not retried after a timeout. */
    public MutationResponse addNode(io.metako.proto.v1.AddNodeRequest request) {
        return mutate(stub -> stub.addNode(request));
    }

    /** Takes a node out of the topology. Not retried after a timeout. */
    public MutationResponse removeNode(String name, String requestedBy) {
        return mutate(stub -> stub.removeNode(io.metako.proto.v1.RemoveNodeRequest.newBuilder().setName(name)
                .setRequestedBy(requestedBy).build()));
    }

    /**
     * Adds a metako instance (running with --join) to the Raft group. Only the leader does it: the call goes to each
     * endpoint in turn until the leader answers. Waits up to 90 s (the new instance catches up first).
     */
    public MutationResponse addMember(String id, String raftAddress, String apiAddress, String requestedBy) {
        return onLeader(stub -> stub.addMember(io.metako.proto.v1.AddMemberRequest.newBuilder().setId(id)
                .setRaftAddress(raftAddress).setApiAddress(apiAddress).setRequestedBy(requestedBy).build()));
    }

    /** Takes a metako instance out of the Raft group (on the leader, as {@link #addMember}). */
    public MutationResponse removeMember(String id, String requestedBy) {
        return onLeader(stub -> stub.removeMember(io.metako.proto.v1.RemoveMemberRequest.newBuilder().setId(id)
                .setRequestedBy(requestedBy).build()));
    }

    /** How long a membership change may take: the leader brings a new member up to date before it counts. */
    private static final long MEMBERSHIP_DEADLINE_MILLIS = 90_000;

    private MutationResponse onLeader(Function<MetakoAdminGrpc.MetakoAdminBlockingStub, MutationResponse> rpc) {
        List<String> errors = new ArrayList<>();
        for (int k = 0; k < endpoints.size(); k++) {
            int i = (preferred + k) % endpoints.size();
            try {
                return rpc.apply(stub(i, false).withDeadlineAfter(Math.max(deadline.toMillis(), MEMBERSHIP_DEADLINE_MILLIS),
                        TimeUnit.MILLISECONDS));
            } catch (StatusRuntimeException e) {
                String d = e.getStatus().getDescription();
                if (e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED) {
                    throw new MetakoClientException(MetakoClientException.Reason.REFUSED, endpoints.get(i) + " gave no"
                            + " answer in time: the change may or may not have been made; check with 'metakoctl members'");
                }
                boolean notLeader = e.getStatus().getCode() == Status.Code.FAILED_PRECONDITION && d != null
                        && d.startsWith("not the Raft leader");
                if (!notLeader && !retryable(e)) {
                    throw refused(endpoints.get(i), e);
                }
                errors.add(endpoints.get(i) + " (" + e.getStatus().getCode() + describe(e) + ")");
            }
        }
        throw new MetakoClientException(MetakoClientException.Reason.NO_ENDPOINT_ANSWERED, "no endpoint is the Raft"
                + " leader: " + String.join(", ", errors) + ". Add the leader's address to --endpoints");
    }

    public GetHistoryResponse history() {
        return call(stub -> stub.getHistory(GetHistoryRequest.getDefaultInstance()));
    }

    /** Maintenance mode on: no automatic failover. Idempotent. */
    public MutationResponse pause(String reason) {
        return call(stub -> stub.pause(PauseRequest.newBuilder().setReason(reason).build()));
    }

    public MutationResponse resume() {
        return call(stub -> stub.resume(ResumeRequest.getDefaultInstance()));
    }

    /** A planned switchover; {@code target} empty lets the cluster choose. Not retried after a timeout. */
    public MutationResponse switchover(String target) {
        return mutate(stub -> stub.switchover(SwitchoverRequest.newBuilder().setTarget(target).build()));
    }

    public MutationResponse failover(String target, boolean force) {
        return mutate(stub -> stub.failover(FailoverRequest.newBuilder().setTarget(target).setForce(force).build()));
    }

    /** Ends the failover or switchover in progress without a change of primary. Not retried after a timeout. */
    public MutationResponse abort(String reason) {
        return mutate(stub -> stub.abort(io.metako.proto.v1.AbortRequest.newBuilder().setReason(reason).build()));
    }

    /** Starts a rejoin of a quarantined node now. Not retried after a timeout. */
    public MutationResponse rejoin(String node) {
        return mutate(stub -> stub.rejoin(io.metako.proto.v1.RejoinRequest.newBuilder().setNode(node).build()));
    }

    /** Wipes a replica and clones it afresh from the primary. Not retried after a timeout. */
    public MutationResponse reinit(String node) {
        return mutate(stub -> stub.reinit(io.metako.proto.v1.ReinitRequest.newBuilder().setNode(node).build()));
    }

    /**
     * A call that must not run twice: it moves to the next endpoint only when this one could not
     * be reached at all; a deadline passed means the outcome is unknown, and is reported so.
     */
    private <T> T mutate(Function<MetakoAdminGrpc.MetakoAdminBlockingStub, T> rpc) {
        return call(stub -> {
            try {
                return rpc.apply(stub);
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED) {
                    throw new MetakoClientException(MetakoClientException.Reason.REFUSED, "no answer within "
                            + deadline.toMillis() + "ms: the request may or may not have been applied; "
                            + "check with 'metakoctl status' before asking again");
                }
                throw e;
            }
        });
    }

    /**
     * Streams status changes to {@code sink} until it returns false or the calling thread is
     * interrupted. When the answering instance goes away the watch continues on the next endpoint.
     * Each stream must deliver its first status within the call deadline (an instance that accepts
     * the connection but does not answer counts as down); after three rounds over every endpoint
     * without a first status, the watch gives up with {@link MetakoClientException.Reason#NO_ENDPOINT_ANSWERED}.
     */
    public void watch(Predicate<ClusterStatus> sink) {
        int failuresInARow = 0;
        List<String> errors = new ArrayList<>();
        while (true) {
            int i = preferred;
            Context.CancellableContext stream = Context.current().withCancellation();
            AtomicBoolean answered = new AtomicBoolean();
            ScheduledFuture<?> firstAnswerDeadline = WATCHDOG.schedule(() -> {
                if (!answered.get()) {
                    stream.cancel(null);
                }
            }, deadline.toMillis(), TimeUnit.MILLISECONDS);
            Context previous = stream.attach();
            try {
                Iterator<ClusterStatus> it = stub(i, false).watchStatus(WatchStatusRequest.getDefaultInstance());
                while (it.hasNext()) {
                    ClusterStatus status = it.next();
                    if (answered.compareAndSet(false, true)) {
                        failuresInARow = 0; // only a status proves the endpoint answers: opening a stream does not
                        errors.clear();
                    }
                    if (!sink.test(status)) {
                        return;
                    }
                }
            } catch (StatusRuntimeException e) {
                if (Thread.currentThread().isInterrupted()) {
                    return; // the caller asked the watch to end
                }
                if (!retryable(e)) {
                    throw refused(endpoints.get(i), e);
                }
                errors.add(endpoints.get(i) + " (" + (answered.get() ? e.getStatus().getCode() + describe(e)
                        : "no status within " + deadline.toMillis() + "ms: " + e.getStatus().getCode()) + ")");
                if (++failuresInARow >= endpoints.size() * 3) {
                    throw new MetakoClientException(MetakoClientException.Reason.NO_ENDPOINT_ANSWERED,
                            "watch lost: no metako instance answered after " + failuresInARow + " attempts: "
                                    + String.join(", ", errors.subList(Math.max(0, errors.size() - endpoints.size()), errors.size()))
                                    + ". Check that the instances run and that --endpoints/METAKO_ENDPOINTS lists their grpc addresses.");
                }
                preferred = (i + 1) % endpoints.size();
                sleep(300);
            } finally {
                firstAnswerDeadline.cancel(false);
                stream.detach(previous);
                stream.cancel(null);
            }
        }
    }

    /** Cancels watch streams that deliver no first status in time (one daemon thread for every client). */
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "metako-client-watchdog");
        t.setDaemon(true);
        return t;
    });

    private <T> T call(Function<MetakoAdminGrpc.MetakoAdminBlockingStub, T> rpc) {
        List<String> errors = new ArrayList<>();
        for (int k = 0; k < endpoints.size(); k++) {
            int i = (preferred + k) % endpoints.size();
            try {
                T result = rpc.apply(stub(i, true));
                preferred = i;
                return result;
            } catch (StatusRuntimeException e) {
                if (!retryable(e)) {
                    throw refused(endpoints.get(i), e);
                }
                errors.add(endpoints.get(i) + " (" + e.getStatus().getCode() + describe(e) + ")");
            }
        }
        throw new MetakoClientException(MetakoClientException.Reason.NO_ENDPOINT_ANSWERED,
                "no metako instance answered within " + deadline.toMillis() + "ms: " + String.join(", ", errors)
                        + ". Check that the instances run and that --endpoints/METAKO_ENDPOINTS lists their grpc addresses"
                        + (tls ? "; that --cacert is the CA that signed their certificates, and that those name the address"
                                + " you connect to" : "; an instance with security.api_tls_enabled needs --cacert (TLS)") + ".");
    }

    private MetakoAdminGrpc.MetakoAdminBlockingStub stub(int i, boolean withDeadline) {
        MetakoAdminGrpc.MetakoAdminBlockingStub s = MetakoAdminGrpc.newBlockingStub(channels.get(i))
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
        return withDeadline ? s.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS) : s;
    }

    private static boolean retryable(StatusRuntimeException e) {
        Status.Code c = e.getStatus().getCode();
        return c == Status.Code.UNAVAILABLE || c == Status.Code.DEADLINE_EXCEEDED || c == Status.Code.CANCELLED;
    }

    private static MetakoClientException refused(String endpoint, StatusRuntimeException e) {
        MetakoClientException.Reason reason = e.getStatus().getCode() == Status.Code.UNAUTHENTICATED
                ? MetakoClientException.Reason.UNAUTHENTICATED : MetakoClientException.Reason.REFUSED;
        return new MetakoClientException(reason, endpoint + " refused the call: " + e.getStatus().getCode() + describe(e));
    }

    private static String describe(StatusRuntimeException e) {
        String d = e.getStatus().getDescription();
        return d == null ? "" : ": " + d;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MetakoClientException(MetakoClientException.Reason.REFUSED, "interrupted");
        }
    }

    @Override
    public void close() {
        for (ManagedChannel c : channels) {
            c.shutdownNow();
        }
    }
}

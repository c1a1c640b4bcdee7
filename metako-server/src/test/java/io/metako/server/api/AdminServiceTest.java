package io.metako.server.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.MetadataUtils;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.GetStatusRequest;
import io.metako.proto.v1.ListMembersResponse;
import io.metako.proto.v1.MetakoAdminGrpc;
import io.metako.proto.v1.WatchStatusRequest;
import io.metako.server.config.Secret;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The admin service and its auth interceptor over in-process gRPC, fed by a fake status source. */
class AdminServiceTest {
    private static final String TOKEN = "the-right-token-0123456789";

    /** A status source whose epoch the test bumps, notifying watchers like the state machine would. */
    static final class FakeSource implements AdminBackend {
        final AtomicLong epoch = new AtomicLong(1);
        final List<Runnable> listeners = new CopyOnWriteArrayList<>();

        @Override
        public ClusterStatus status() {
            return ClusterStatus.newBuilder().setAnsweredBy("m1").setEpoch(epoch.get()).build();
        }

        @Override
        public ListMembersResponse members() {
            return ListMembersResponse.newBuilder().setAnsweredBy("m1").setLeaderId("m2").build();
        }

        @Override
        public AutoCloseable onChange(Runnable listener) {
            listeners.add(listener);
            return () -> listeners.remove(listener);
        }

        void change() {
            epoch.incrementAndGet();
            listeners.forEach(Runnable::run);
        }
    }

    private final FakeSource source = new FakeSource();
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(new AdminService(source, Executors.newSingleThreadExecutor()),
                        new AuthInterceptor(Secret.of(TOKEN)))).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.shutdownNow();
    }

    private MetakoAdminGrpc.MetakoAdminBlockingStub stub(String token) {
        Metadata md = new Metadata();
        if (token != null) {
            md.put(AuthInterceptor.AUTHORIZATION, "Bearer " + token);
        }
        return MetakoAdminGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                .withDeadlineAfter(5, TimeUnit.SECONDS);
    }

    @Test
    void theRightTokenGetsStatusAndMembers() {
        assertThat(stub(TOKEN).getStatus(GetStatusRequest.getDefaultInstance()).getEpoch()).isEqualTo(1);
        assertThat(stub(TOKEN).listMembers(io.metako.proto.v1.ListMembersRequest.getDefaultInstance()).getLeaderId())
                .isEqualTo("m2");
    }

    @Test
    void aReadTokenReadsButCannotChangeTheCluster() throws Exception {
        String name = InProcessServerBuilder.generateName();
        String reader = "the-read-only-token-0123";
        Server roles = InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(new AdminService(source, Executors.newSingleThreadExecutor()),
                        new AuthInterceptor(Secret.of(TOKEN), Secret.of(reader)))).build().start();
        ManagedChannel ch = InProcessChannelBuilder.forName(name).directExecutor().build();
        try {
            java.util.function.Function<String, MetakoAdminGrpc.MetakoAdminBlockingStub> as = token -> {
                Metadata md = new Metadata();
                md.put(AuthInterceptor.AUTHORIZATION, "Bearer " + token);
                return MetakoAdminGrpc.newBlockingStub(ch).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
                        .withDeadlineAfter(5, TimeUnit.SECONDS);
            };
            assertThat(as.apply(reader).getStatus(GetStatusRequest.getDefaultInstance()).getAnsweredBy()).isEqualTo("m1");
            assertThat(as.apply(reader).listMembers(io.metako.proto.v1.ListMembersRequest.getDefaultInstance()).getLeaderId())
                    .isEqualTo("m2");
            assertThatThrownBy(() -> as.apply(reader).pause(io.metako.proto.v1.PauseRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
                        assertThat(e.getStatus().getDescription()).contains("may only read", "Pause needs the admin token");
                    });
            assertThatThrownBy(() -> as.apply(reader).switchover(io.metako.proto.v1.SwitchoverRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED));
            // the admin token passes the check (this fake source then says it does not serve pause)
            assertThatThrownBy(() -> as.apply(TOKEN).pause(io.metako.proto.v1.PauseRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        } finally {
            ch.shutdownNow();
            roles.shutdownNow();
        }
    }

    @Test
    void aMissingOrWrongTokenIsUnauthenticatedAndNotEchoed() {
        ch.qos.logback.classic.Logger log = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(AuthInterceptor.class);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> seen = new ch.qos.logback.core.read.ListAppender<>();
        seen.start();
        log.addAppender(seen);
        try {
            refusals();
        } finally {
            log.detachAppender(seen);
        }
        assertThat(seen.list).as("one line per client host, without the token").singleElement()
                .satisfies(e -> assertThat(e.getFormattedMessage()).contains("refused", "GetStatus", "no bearer token")
                        .doesNotContain("the-wrong-token").doesNotContain(TOKEN));
    }

    private void refusals() {
        assertThatThrownBy(() -> stub(null).getStatus(GetStatusRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
                    assertThat(e.getStatus().getDescription()).contains("missing bearer token");
                });
        assertThatThrownBy(() -> stub("the-wrong-token-0123456789").getStatus(GetStatusRequest.getDefaultInstance()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
                    assertThat(e.getStatus().getDescription()).doesNotContain("the-wrong-token").doesNotContain(TOKEN);
                });
        assertThatThrownBy(() -> stub("").getStatus(GetStatusRequest.getDefaultInstance()))
                .isInstanceOf(StatusRuntimeException.class);
    }

    @Test
    void watchSendsTheStatusNowAndAfterEveryChangeThenUnsubscribesOnCancel() throws Exception {
        io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
        Iterator<ClusterStatus> it = ctx.call(() -> stub(TOKEN).withDeadline(null)
                .watchStatus(WatchStatusRequest.getDefaultInstance()));
        assertThat(it.next().getEpoch()).isEqualTo(1);
        source.change();
        assertThat(it.next().getEpoch()).isEqualTo(2);
        source.change();
        assertThat(it.next().getEpoch()).isEqualTo(3);
        assertThat(source.listeners).hasSize(1);
        ctx.cancel(null);
        long deadline = System.currentTimeMillis() + 5_000;
        while (!source.listeners.isEmpty() && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
        }
        assertThat(source.listeners).as("the watch unsubscribed").isEmpty();
    }
}

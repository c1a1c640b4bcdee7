package io.metako.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MetakoAdminGrpc;
import io.metako.proto.v1.WatchStatusRequest;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link MetakoClient#watch} against endpoints that answer, refuse or stay silent: a script running
 * {@code metakoctl watch} must get statuses, or an error that says no instance answered, never a hang.
 */
class MetakoClientWatchTest {

    @Test
    @Timeout(30)
    void aPortNobodyListensOnEndsTheWatchWithNoEndpointAnswered() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // closed again: connections are refused
        }
        try (MetakoClient client = new MetakoClient(List.of("127.0.0.1:" + port), "", Duration.ofMillis(500))) {
            assertThatThrownBy(() -> client.watch(s -> true))
                    .isInstanceOfSatisfying(MetakoClientException.class,
                            e -> assertThat(e.reason()).isEqualTo(MetakoClientException.Reason.NO_ENDPOINT_ANSWERED))
                    .hasMessageContaining("watch lost")
                    .hasMessageContaining("127.0.0.1:" + port)
                    .hasMessageContaining("--endpoints");
        }
    }

    @Test
    @Timeout(30)
    void anEndpointThatAcceptsButNeverAnswersCountsAsDown() throws Exception {
        List<Socket> accepted = new CopyOnWriteArrayList<>();
        try (ServerSocket silent = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        accepted.add(silent.accept()); // and never a byte back
                    }
                } catch (java.io.IOException closed) {
                    // the test is over
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            long start = System.nanoTime();
            try (MetakoClient client = new MetakoClient(List.of("127.0.0.1:" + silent.getLocalPort()), "", Duration.ofMillis(400))) {
                assertThatThrownBy(() -> client.watch(s -> true))
                        .isInstanceOfSatisfying(MetakoClientException.class,
                                e -> assertThat(e.reason()).isEqualTo(MetakoClientException.Reason.NO_ENDPOINT_ANSWERED))
                        .hasMessageContaining("no status within 400ms");
            }
            assertThat(accepted).as("the client did connect").isNotEmpty();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("three attempts of 400 ms, not forever")
                    .isLessThan(Duration.ofSeconds(20));
        } finally {
            for (Socket s : accepted) {
                s.close();
            }
        }
    }

    @Test
    @Timeout(30)
    void statusesReachTheSinkAndAWatchMovesOnFromAnEndpointThatIsDown() throws Exception {
        int down;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            down = s.getLocalPort();
        }
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new MetakoAdminGrpc.MetakoAdminImplBase() {
                    @Override
                    public void watchStatus(WatchStatusRequest request, StreamObserver<ClusterStatus> out) {
                        for (int epoch = 1; epoch <= 3; epoch++) {
                            out.onNext(ClusterStatus.newBuilder().setAnsweredBy("i-1").setEpoch(epoch).build());
                        }
                        out.onCompleted();
                    }
                }).build().start();
        try (MetakoClient client = new MetakoClient(List.of("127.0.0.1:" + down, "127.0.0.1:" + server.getPort()), "",
                Duration.ofMillis(500))) {
            List<Long> epochs = new ArrayList<>();
            client.watch(s -> {
                epochs.add(s.getEpoch());
                return epochs.size() < 5; // the stream ends after 3: the watch opens it again
            });
            assertThat(epochs).containsExactly(1L, 2L, 3L, 1L, 2L);
        } finally {
            server.shutdownNow().awaitTermination();
        }
    }
}

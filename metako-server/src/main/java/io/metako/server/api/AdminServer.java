package io.metako.server.api;

import io.grpc.Server;
import io.metako.server.DaemonThreads;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.metako.server.config.HostPort;
import io.metako.server.config.Secret;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** The gRPC admin endpoint of one instance. */
public final class AdminServer implements AutoCloseable {
    private final Server server;
    private final ExecutorService watchExecutor;

    public AdminServer(HostPort address, Secret token, AdminBackend source) {
        this(address, token, Secret.none(), source);
    }

    /** {@code readToken}, when present, may call only the read methods. */
    public AdminServer(HostPort address, Secret token, Secret readToken, AdminBackend source) {
        this.watchExecutor = Executors.newFixedThreadPool(2, DaemonThreads.named("admin-watch"));
        AdminService service = new AdminService(source, watchExecutor);
        this.server = NettyServerBuilder.forAddress(new InetSocketAddress(address.host(), address.port()))
                .addService(ServerInterceptors.intercept(service, new AuthInterceptor(token, readToken)))
                .permitKeepAliveWithoutCalls(true)
                .permitKeepAliveTime(10, TimeUnit.SECONDS)
                .build();
    }

    public void start() throws IOException {
        server.start();
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdown();
        if (!server.awaitTermination(2, TimeUnit.SECONDS)) {
            server.shutdownNow();
        }
        watchExecutor.shutdownNow();
    }
}

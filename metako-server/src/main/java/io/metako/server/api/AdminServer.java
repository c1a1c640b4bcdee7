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

    private final AuthInterceptor auth;

    public AdminServer(HostPort address, Secret token, AdminBackend source) {
        this(address, token, Secret.none(), source);
    }

    /** {@code readToken}, when present, may call only the read methods. */
    public AdminServer(HostPort address, Secret token, Secret readToken, AdminBackend source) {
        this(address, token, readToken, source, null);
    }

    /**
     * {@code tls} null: plaintext. Else the server's certificate and key, and, when {@code tls.clientCa()} is set,
     * clients must present a certificate signed by it.
     */
    public record Tls(io.metako.server.tls.InstanceCertificate certificate, java.nio.file.Path clientCa) {
        /** The certificate and key read from their files. */
        public Tls(java.nio.file.Path cert, java.nio.file.Path key, java.nio.file.Path clientCa) {
            this(load(cert, key), clientCa);
        }

        private static io.metako.server.tls.InstanceCertificate load(java.nio.file.Path cert, java.nio.file.Path key) {
            try {
                return io.metako.server.tls.InstanceCertificate.load(cert, key);
            } catch (IOException e) {
                throw new IllegalStateException("the admin API cannot use " + e.getMessage(), e);
            }
        }
    }

    public AdminServer(HostPort address, Secret token, Secret readToken, AdminBackend source, Tls tls) {
        this.watchExecutor = Executors.newFixedThreadPool(2, DaemonThreads.named("admin-watch"));
        AdminService service = new AdminService(source, watchExecutor);
        NettyServerBuilder b = NettyServerBuilder.forAddress(new InetSocketAddress(address.host(), address.port()));
        if (tls != null) {
            b.sslContext(serverContext(tls));
        }
        this.auth = new AuthInterceptor(token, readToken);
        this.server = b
                .addService(ServerInterceptors.intercept(service, auth))
                .permitKeepAliveWithoutCalls(true)
                .permitKeepAliveTime(10, TimeUnit.SECONDS)
                .build();
    }

    private static io.grpc.netty.shaded.io.netty.handler.ssl.SslContext serverContext(Tls tls) {
        try {
            var ctx = io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts.configure(
                    io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder.forServer(tls.certificate().keyManager()));
            if (tls.clientCa() != null) {
                ctx.trustManager(tls.clientCa().toFile())
                        .clientAuth(io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth.REQUIRE);
            }
            return ctx.build();
        } catch (javax.net.ssl.SSLException | IllegalArgumentException e) {
            throw new IllegalStateException("the admin API cannot use security.cert_file / key_file"
                    + (tls.clientCa() == null ? "" : " / api_client_ca_file") + ": " + e.getMessage(), e);
        }
    }

    public void start() throws IOException {
        server.start();
    }

    /** New admin and read tokens (a reload of the instance's file): every call from now on needs them. */
    public void tokens(Secret token, Secret readToken) {
        auth.tokens(token, readToken);
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

package io.metako.server.config;

import io.metako.proxy.net.ProxyEventLoops;
import java.time.Duration;
import java.util.List;

/**
 * This instance's PostgreSQL-protocol proxy: where it listens, its limits, how it fails closed,
 * and the users it authenticates itself (clients never reach a backend unauthenticated).
 */
public record ProxyConfig(
        String listenHost,
        int port,
        int rwPort,
        int roPort,
        long maxMessageSize,
        int maxClientConnections,
        Duration startupTimeout,
        Duration failoverWait,
        boolean staleReads,
        ClientAuth clientAuth,
        List<ProxyUser> users,
        int threads,
        ProxyEventLoops.Transport transport,
        int backendIdleMax,
        Duration backendIdleTimeout,
        boolean requireTls,
        long maxBufferedBytes,
        int maxNewConnectionsPerSecond) {

    public static final int DEFAULT_PORT = 6432;
    public static final long DEFAULT_MAX_MESSAGE_SIZE = 64L << 20;
    public static final int DEFAULT_MAX_CLIENT_CONNECTIONS = 1000;
    public static final Duration DEFAULT_STARTUP_TIMEOUT = Duration.ofSeconds(10);
    public static final Duration DEFAULT_FAILOVER_WAIT = Duration.ofSeconds(10);
    public static final int DEFAULT_BACKEND_IDLE_MAX = 20;
    public static final Duration DEFAULT_BACKEND_IDLE_TIMEOUT = Duration.ofSeconds(60);
    public static final long DEFAULT_MAX_BUFFERED_BYTES = 256L << 20;
    public static final int DEFAULT_MAX_NEW_CONNECTIONS_PER_SECOND = 1000;

    public ProxyConfig {
        users = List.copyOf(users);
    }

    /**
     * {@code max_buffered_bytes} when unset: a quarter of the JVM's memory limit (Netty's direct memory is bounded
     * by it too), at most {@link #DEFAULT_MAX_BUFFERED_BYTES}, and at least one message of {@code maxMessageSize}.
     */
    public static long defaultMaxBufferedBytes(long maxMessageSize, long jvmMaxMemory) {
        return Math.max(maxMessageSize, Math.min(DEFAULT_MAX_BUFFERED_BYTES, jvmMaxMemory / 4));
    }

    /**
     * Event-loop threads for the proxy ports: {@code threads} if set, else one per four cores (at
     * least one). One loop serves thousands of sessions; more loops only pay where cores are spare,
     * and on a small host that shares its cores with PostgreSQL one loop costs the least CPU per
     * statement (docs/performance.md).
     */
    public int eventLoopThreads(int cores) {
        return threads > 0 ? threads : Math.max(1, cores / 4);
    }

    /** How clients prove who they are: SCRAM-SHA-256 unless md5 or cleartext is configured. */
    public enum ClientAuth { SCRAM_SHA_256, MD5, PASSWORD }

    /** A user the proxy accepts: a password (any method) or a SCRAM verifier (SCRAM only). */
    public record ProxyUser(String name, Secret password, Secret scramVerifier) {
    }
}

package io.metako.proxy.session;

import io.metako.proxy.auth.ScramVerifier;
import io.netty.handler.ssl.SslContext;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * What the statement router needs from the configuration: limits, how clients log in, and how
 * it logs in to each backend.
 *
 * @param maxMessageSize       a client message longer than this ends the session (08P01 / 54000)
 * @param maxClientConnections sessions beyond this are refused with 53300
 * @param startupTimeout       a client that has not finished logging in by then is disconnected
 * @param failoverWait         how long a statement waits for a primary (or a lease) before a retryable error
 * @param staleReads           reads may be served while this instance holds no lease
 * @param leastConnections     balance reads by open backend connections, else round robin (where the routing table
 *                             leaves it to the port: {@link io.metako.proxy.routing.RoutingTable.Balance#CONFIGURED})
 * @param clientAuth           how clients prove who they are
 * @param users                the users the proxy accepts, by name
 * @param backendLogin         the credentials for a backend, by node name
 * @param tls                  the server context for SSLRequest, empty: answer 'N'
 * @param backendIdleMax       backend connections per node kept for reuse after their sessions end; 0: none
 * @param backendIdleTimeout   a backend connection kept for reuse is closed when no session took it by then
 * @param requireTls           a client that logs in without TLS is refused (28000)
 * @param maxBufferedBytes     bytes all sessions together may hold for client messages not yet fully arrived
 */
public record RouterSettings(int maxMessageSize, int maxClientConnections, Duration startupTimeout, Duration failoverWait,
                             boolean staleReads, boolean leastConnections, ClientAuth clientAuth, Map<String, ClientUser> users,
                             Function<String, BackendLogin> backendLogin, Optional<SslContext> tls,
                             int backendIdleMax, Duration backendIdleTimeout, boolean requireTls, long maxBufferedBytes) {

    public RouterSettings {
        users = Map.copyOf(users);
    }

    /** No budget across sessions beyond each one's {@code maxMessageSize}. */
    public RouterSettings(int maxMessageSize, int maxClientConnections, Duration startupTimeout, Duration failoverWait,
                          boolean staleReads, boolean leastConnections, ClientAuth clientAuth, Map<String, ClientUser> users,
                          Function<String, BackendLogin> backendLogin, Optional<SslContext> tls,
                          int backendIdleMax, Duration backendIdleTimeout, boolean requireTls) {
        this(maxMessageSize, maxClientConnections, startupTimeout, failoverWait, staleReads, leastConnections, clientAuth,
                users, backendLogin, tls, backendIdleMax, backendIdleTimeout, requireTls, Long.MAX_VALUE);
    }

    /** Clients may log in without TLS. */
    public RouterSettings(int maxMessageSize, int maxClientConnections, Duration startupTimeout, Duration failoverWait,
                          boolean staleReads, boolean leastConnections, ClientAuth clientAuth, Map<String, ClientUser> users,
                          Function<String, BackendLogin> backendLogin, Optional<SslContext> tls,
                          int backendIdleMax, Duration backendIdleTimeout) {
        this(maxMessageSize, maxClientConnections, startupTimeout, failoverWait, staleReads, leastConnections, clientAuth,
                users, backendLogin, tls, backendIdleMax, backendIdleTimeout, false);
    }

    /** Settings that keep no backend connection for reuse: each session connects its own. */
    public RouterSettings(int maxMessageSize, int maxClientConnections, Duration startupTimeout, Duration failoverWait,
                          boolean staleReads, boolean leastConnections, ClientAuth clientAuth, Map<String, ClientUser> users,
                          Function<String, BackendLogin> backendLogin, Optional<SslContext> tls) {
        this(maxMessageSize, maxClientConnections, startupTimeout, failoverWait, staleReads, leastConnections, clientAuth,
                users, backendLogin, tls, 0, Duration.ZERO);
    }

    /** The authentication the proxy asks of clients. */
    public enum ClientAuth { SCRAM_SHA_256, MD5, PASSWORD }

    /**
     * A user clients may log in as: a password (any method; a SCRAM verifier is derived from it once)
     * or only a SCRAM verifier.
     */
    public record ClientUser(String name, Optional<String> password, ScramVerifier verifier) {
        public static ClientUser withPassword(String name, String password) {
            return new ClientUser(name, Optional.of(password),
                    ScramVerifier.fromPassword(password, new java.security.SecureRandom()));
        }

        public static ClientUser withVerifier(String name, ScramVerifier verifier) {
            return new ClientUser(name, Optional.empty(), verifier);
        }

        @Override
        public String toString() {
            return "ClientUser[" + name + ", secrets hidden]";
        }
    }

    /**
     * How the proxy logs in to a backend: user and password (empty for trust), whether over TLS, and whether the
     * password may go in clear text to a node whose certificate is not verified ({@code
     * security.backend_allow_cleartext_password}). A null {@code user} is a node this instance has no credentials
     * for (see {@link #unconfigured}).
     */
    public record BackendLogin(String user, String password, BackendTls tls, boolean cleartextToUnverified) {
        /** Without TLS; no clear-text password. */
        public BackendLogin(String user, String password) {
            this(user, password, BackendTls.DISABLED);
        }

        /** No clear-text password to a node whose certificate is not verified. */
        public BackendLogin(String user, String password, BackendTls tls) {
            this(user, password, tls, false);
        }

        /** A node of the topology that this instance's configuration does not list: a login to it fails, saying so. */
        public static BackendLogin unconfigured() {
            return new BackendLogin(null, "", BackendTls.DISABLED, false);
        }

        @Override
        public String toString() {
            return "BackendLogin[" + user + ", password hidden, sslmode " + tls.mode().setting() + "]";
        }
    }

    /**
     * TLS to a backend, with libpq's {@code sslmode} meanings: {@code disable} never asks; {@code prefer} asks and
     * goes on in plain text when the server says no; {@code require} insists but does not check the certificate;
     * {@code verify-ca} also checks it against the configured root certificate; {@code verify-full} also checks that
     * it names the host the node is configured with.
     *
     * @param context the client context (trusting any certificate below verify-ca); null for {@code disable}
     */
    public record BackendTls(SslMode mode, SslContext context) {
        public static final BackendTls DISABLED = new BackendTls(SslMode.DISABLE, null);

        public BackendTls {
            if ((mode == SslMode.DISABLE) != (context == null)) {
                throw new IllegalArgumentException("sslmode " + mode.setting() + (context == null ? " needs" : " takes no")
                        + " TLS context");
            }
        }
    }

    /** libpq's sslmode values the proxy supports toward backends ({@code allow} is not: it only matters for servers that insist). */
    public enum SslMode {
        DISABLE, PREFER, REQUIRE, VERIFY_CA, VERIFY_FULL;

        /** From a setting ({@code disable}, {@code prefer}, {@code require}, {@code verify-ca}, {@code verify-full}). */
        public static SslMode parse(String text) {
            for (SslMode m : values()) {
                if (m.setting().equals(text.strip().toLowerCase(java.util.Locale.ROOT))) {
                    return m;
                }
            }
            throw new IllegalArgumentException("must be disable, prefer, require, verify-ca or verify-full, got '" + text + "'");
        }

        public String setting() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }

        /** Whether a server that does not offer TLS is refused. */
        public boolean insists() {
            return this == REQUIRE || verifies();
        }

        /** Whether the server's certificate must chain to a configured root (verify-ca, verify-full). */
        public boolean verifies() {
            return this == VERIFY_CA || this == VERIFY_FULL;
        }
    }
}

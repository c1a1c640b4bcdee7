package io.metako.server.api;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.metako.server.config.Secret;

/**
 * Refuses every call that does not carry this instance's bearer token (compared in constant time), and logs
 * the first refusal from each client host, with the method and never the token presented.
 */
final class AuthInterceptor implements ServerInterceptor {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AuthInterceptor.class);
    /** Client hosts whose refusal was logged; bounded, so that a scan of many addresses cannot grow it without end. */
    private static final int MAX_LOGGED_HOSTS = 1024;
    private final java.util.Set<String> logged = java.util.concurrent.ConcurrentHashMap.newKeySet();
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final String PREFIX = "Bearer ";

    /** The methods a read-only token may call; everything else changes the cluster and needs the admin token. */
    private static final java.util.Set<String> READ_METHODS = java.util.Set.of("GetStatus", "WatchStatus", "ListMembers",
            "GetHistory", "GetSettings");

    /** Both tokens, swapped as one by a reload. */
    private record Tokens(Secret admin, Secret read) {
    }

    private volatile Tokens tokens;

    AuthInterceptor(Secret token) {
        this(token, Secret.none());
    }

    /** {@code token} may call everything; {@code readToken} (if present) only {@link #READ_METHODS}. */
    AuthInterceptor(Secret token, Secret readToken) {
        this.tokens = new Tokens(token, readToken);
    }

    /** New tokens from a reload: calls from now on need them; calls already running go on. */
    void tokens(Secret token, Secret readToken) {
        this.tokens = new Tokens(token, readToken);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                      ServerCallHandler<Q, R> next) {
        String header = headers.get(AUTHORIZATION);
        String presented = header != null && header.startsWith(PREFIX) ? header.substring(PREFIX.length()) : null;
        Tokens t = tokens;
        Secret token = t.admin();
        Secret readToken = t.read();
        boolean admin = presented != null && token.matches(presented);
        boolean reader = !admin && presented != null && readToken.isPresent() && readToken.matches(presented);
        if (reader && !READ_METHODS.contains(call.getMethodDescriptor().getBareMethodName())) {
            call.close(Status.PERMISSION_DENIED.withDescription("this token may only read (status, watch, members, history, settings): "
                    + call.getMethodDescriptor().getBareMethodName() + " needs the admin token (auth_token)"), new Metadata());
            return new ServerCall.Listener<>() { };
        }
        if (!admin && !reader) {
            String host = clientHost(call);
            if (logged.size() < MAX_LOGGED_HOSTS && logged.add(host)) {
                LOG.warn("admin API call {} from {} refused: {} bearer token (further refusals from this host are not logged)",
                        call.getMethodDescriptor().getFullMethodName(), host, presented == null ? "no" : "a wrong");
            }
            call.close(Status.UNAUTHENTICATED.withDescription(presented == null
                    ? "missing bearer token: pass --token or set METAKO_TOKEN"
                    : "wrong bearer token: use the auth_token of the instance's configuration"), new Metadata());
            return new ServerCall.Listener<>() { };
        }
        return next.startCall(call, headers);
    }

    private static String clientHost(ServerCall<?, ?> call) {
        java.net.SocketAddress a = call.getAttributes().get(io.grpc.Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        return a instanceof java.net.InetSocketAddress i ? i.getAddress().getHostAddress() : String.valueOf(a);
    }
}

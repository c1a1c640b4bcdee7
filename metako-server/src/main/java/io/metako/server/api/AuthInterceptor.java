package io.metako.server.api;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.metako.server.config.Secret;

/** Refuses every call that does not carry this instance's bearer token. */
final class AuthInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final String PREFIX = "Bearer ";

    private final Secret token;

    AuthInterceptor(Secret token) {
        this.token = token;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                      ServerCallHandler<Q, R> next) {
        String header = headers.get(AUTHORIZATION);
        String presented = header != null && header.startsWith(PREFIX) ? header.substring(PREFIX.length()) : null;
        if (presented == null || !token.matches(presented)) {
            call.close(Status.UNAUTHENTICATED.withDescription(presented == null
                    ? "missing bearer token: pass --token or set METAKO_TOKEN"
                    : "wrong bearer token: use the auth_token of the instance's configuration"), new Metadata());
            return new ServerCall.Listener<>() { };
        }
        return next.startCall(call, headers);
    }
}

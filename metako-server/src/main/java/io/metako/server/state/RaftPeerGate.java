package io.metako.server.state;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.security.GeneralSecurityException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.apache.ratis.grpc.server.GrpcServices;
import org.apache.ratis.thirdparty.io.grpc.Grpc;
import org.apache.ratis.thirdparty.io.grpc.Metadata;
import org.apache.ratis.thirdparty.io.grpc.ServerCall;
import org.apache.ratis.thirdparty.io.grpc.ServerCallHandler;
import org.apache.ratis.thirdparty.io.grpc.ServerInterceptor;
import org.apache.ratis.thirdparty.io.grpc.Status;
import org.apache.ratis.thirdparty.io.grpc.netty.NettyServerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Admits to this instance's Raft services (peer replication, client requests and Ratis administration) only the
 * connections whose TLS certificate names a member of the group. Mutual TLS alone admits any certificate the
 * cluster CA signed, an operator's {@code metakoctl} certificate included, and a stock Ratis client holding one
 * could otherwise read the state, submit commands or change the Raft membership.
 */
final class RaftPeerGate implements ServerInterceptor, GrpcServices.Customizer {
    private static final Logger LOG = LoggerFactory.getLogger(RaftPeerGate.class);
    /** Distinct refused hosts remembered for logging once each; beyond this, refusals are still refused, unlogged. */
    private static final int MAX_LOGGED_HOSTS = 1024;

    private final CommandSigner certificates;
    /** Whether an instance id may connect: wider than whose commands count (see {@link RaftNode}). */
    private final java.util.function.Predicate<String> admitted;
    private final Set<String> logged = ConcurrentHashMap.newKeySet();

    RaftPeerGate(CommandSigner certificates, java.util.function.Predicate<String> admitted) {
        this.certificates = certificates;
        this.admitted = admitted;
    }

    @Override
    public NettyServerBuilder customize(NettyServerBuilder builder, java.util.EnumSet<GrpcServices.Type> types) {
        return builder.intercept(this);
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                        ServerCallHandler<Q, A> next) {
        String refusal = refusal(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION));
        if (refusal == null) {
            return next.startCall(call, headers);
        }
        SocketAddress remote = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        String host = remote instanceof InetSocketAddress a ? a.getAddress().getHostAddress() : String.valueOf(remote);
        if (logged.size() < MAX_LOGGED_HOSTS && logged.add(host)) {
            LOG.warn("Raft call {} from {} refused: {} (logged once per host)",
                    call.getMethodDescriptor().getFullMethodName(), host, refusal);
        }
        call.close(Status.PERMISSION_DENIED.withDescription("not a member of this Raft group: " + refusal), new Metadata());
        return new ServerCall.Listener<>() { };
    }

    /** Why a connection with {@code session} may not call, or null when its certificate is a member's. */
    private String refusal(SSLSession session) {
        if (session == null) {
            return "no TLS session";
        }
        try {
            Certificate[] chain = session.getPeerCertificates();
            if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
                return "no X.509 client certificate";
            }
            certificates.member(leaf, admitted);
            return null;
        } catch (SSLPeerUnverifiedException e) {
            return "no client certificate";
        } catch (GeneralSecurityException e) {
            return e.getMessage();
        }
    }
}

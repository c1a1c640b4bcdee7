package io.metako.proxy.session;

import io.metako.proxy.protocol.FrontendFrameDecoder;
import io.metako.proxy.protocol.ProtocolException;
import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandler;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * TLS toward a backend, as {@code security.backend_sslmode} says (any mode but disable): the handler in
 * front of {@link BackendLogin} that sends SSLRequest, reads the server's one-byte answer, starts TLS or
 * goes on in plain text (unless the mode insists), then removes itself and lets the login begin (it passes
 * channelActive on only then). A failed handshake is recorded on the link as final: no retry.
 */
final class BackendTlsRequest extends ChannelInboundHandlerAdapter {
    private final BackendLink link;
    private final RoutingTable.Backend backend;
    private final RouterSettings.BackendTls tls;

    BackendTlsRequest(BackendLink link, RouterSettings.BackendTls tls) {
        this.link = link;
        this.backend = link.backend;
        this.tls = tls;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.writeAndFlush(ctx.alloc().buffer(8).writeInt(8).writeInt(FrontendFrameDecoder.SSL_REQUEST));
        ctx.read();
    }

    /**
     * The server's one-byte answer to SSLRequest: 'S' starts TLS and then the login, 'N' goes on in plain
     * text unless the sslmode insists. Anything more than that byte is refused: bytes sent before the TLS
     * handshake could have been injected by a man in the middle (CVE-2021-23222).
     */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        RouterSettings.SslMode mode = tls.mode();
        try {
            if (in.readableBytes() != 1) {
                throw new ProtocolException("node " + backend.name() + " answered SSLRequest with " + in.readableBytes()
                        + " bytes instead of one");
            }
            byte answer = in.readByte();
            if (answer == 'N') {
                if (mode.insists()) {
                    throw new ProtocolException("node " + backend.name() + " (" + backend.host() + ":" + backend.port()
                            + ") does not accept TLS connections, and security.backend_sslmode is " + mode.setting()
                            + ": turn ssl on in its postgresql.conf, or lower backend_sslmode");
                }
                startLogin(ctx);
            } else if (answer == 'S') {
                SslHandler handler = tls.context().newHandler(ctx.alloc(), backend.host(), backend.port());
                if (mode == RouterSettings.SslMode.VERIFY_FULL) {
                    SSLParameters p = handler.engine().getSSLParameters();
                    p.setEndpointIdentificationAlgorithm("HTTPS"); // the certificate must name the configured host
                    handler.engine().setSSLParameters(p);
                }
                ctx.pipeline().addBefore(ctx.name(), "backend-tls", handler);
                handler.handshakeFuture().addListener(f -> {
                    if (f.isSuccess()) {
                        startLogin(ctx);
                    } else {
                        failed(f.cause());
                    }
                });
            } else {
                throw new ProtocolException("node " + backend.name() + " answered SSLRequest with '" + (char) answer + "'");
            }
        } finally {
            in.release();
        }
    }

    private void startLogin(ChannelHandlerContext ctx) {
        ctx.pipeline().remove(this);
        ctx.fireChannelActive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (tlsProblem(cause)) {
            failed(cause);
        }
        ctx.fireExceptionCaught(cause); // the login records anything else, and closes
    }

    /** Whether {@code t} comes from TLS (a handshake or record problem): final, not worth a retry. */
    static boolean tlsProblem(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof SSLException) {
                return true;
            }
        }
        return false;
    }

    /** The TLS handshake failed (an untrusted certificate, a host it does not name): refused for good, no retry. */
    private void failed(Throwable cause) {
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        link.loginFailed(SqlState.CONNECTION_FAILURE, "TLS handshake with node " + backend.name() + " (" + backend.host()
                + ":" + backend.port() + ") failed, security.backend_sslmode " + tls.mode().setting() + ": " + root.getMessage());
    }
}

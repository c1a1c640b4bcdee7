package io.metako.proxy.session;

import io.metako.proxy.protocol.BackendMessages;
import io.metako.proxy.protocol.CancelRequest;
import io.metako.proxy.protocol.Frame;
import io.metako.proxy.protocol.FrontendFrameDecoder;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.protocol.ProtocolException;
import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.protocol.StartupMessage;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client connection to the statement router until it has logged in: the startup packets (SSLRequest,
 * GSSENCRequest, CancelRequest, StartupMessage) and the login against the configured users (SCRAM-SHA-256,
 * md5 or cleartext), within {@code proxy.startup_timeout}. Once the client is authenticated it hands the
 * channel to its {@link ClientSession}, which takes its place in the pipeline.
 *
 * <p>Buffers: every frame read here is released here.
 */
final class ClientLogin extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(ClientLogin.class);

    private final StatementRouter router;
    private final RouterSettings settings;
    private final ClientSession session;
    private final Channel client;
    private boolean tlsStarted;
    private StartupMessage startup;
    private Map<String, String> backendParameters;
    private ClientAuthenticator authenticator;
    private ScheduledFuture<?> startupTimer;
    private boolean ended;

    ClientLogin(StatementRouter router, ClientSession session) {
        this.router = router;
        this.settings = router.settings();
        this.session = session;
        this.client = session.client;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        startupTimer = ctx.executor().schedule(() -> fatal(SqlState.PROTOCOL_VIOLATION,
                "login did not complete within proxy.startup_timeout (" + settings.startupTimeout().toMillis() + " ms)"),
                settings.startupTimeout().toMillis(), TimeUnit.MILLISECONDS);
        ctx.read();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Frame f = (Frame) msg;
        try {
            if (ended) {
                return;
            }
            if (authenticator == null) {
                startupMessage(f);
            } else {
                authMessage(ctx, f);
            }
        } catch (ProtocolException e) {
            fatal(e.sqlState(), e.getMessage());
        } finally {
            f.release();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!ended) {
            ctx.read();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        end();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        failed(ctx, cause, this::fatal);
    }

    /** A client connection failed: a protocol error ends it with a FATAL error, anything else closes it. */
    static void failed(ChannelHandlerContext ctx, Throwable cause, BiConsumer<String, String> fatal) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (c instanceof ProtocolException p) {
            fatal.accept(p.sqlState(), p.getMessage());
        } else {
            LOG.debug("client connection failed: {}", c.toString());
            ctx.close();
        }
    }

    private void startupMessage(Frame f) {
        int code = f.payload().getInt(0);
        if (code == FrontendFrameDecoder.SSL_REQUEST) {
            boolean accept = settings.tls().isPresent() && !tlsStarted;
            client.writeAndFlush(BackendMessages.encryptionAnswer(client.alloc(), accept));
            if (accept) {
                tlsStarted = true;
                client.pipeline().addFirst("tls", settings.tls().get().newHandler(client.alloc()));
            }
            return;
        }
        if (code == FrontendFrameDecoder.GSSENC_REQUEST) {
            client.writeAndFlush(BackendMessages.encryptionAnswer(client.alloc(), false));
            return;
        }
        if (code == FrontendFrameDecoder.CANCEL_REQUEST) {
            router.cancel(CancelRequest.parse(f.payload()));
            end();
            client.close();
            return;
        }
        startup = StartupMessage.parse(f.payload());
        if (session.overflow) { // came in over the limit, in the reserve kept for cancel requests
            fatal(SqlState.TOO_MANY_CONNECTIONS, "sorry, too many clients already (proxy.max_client_connections is "
                    + settings.maxClientConnections() + ")");
            return;
        }
        if (settings.requireTls() && !tlsStarted) {
            fatal(SqlState.INVALID_AUTHORIZATION, "this proxy accepts only TLS connections"
                    + " (proxy.require_tls): connect with sslmode=require or stronger");
            return;
        }
        String replication = startup.parameters().getOrDefault("replication", "false").toLowerCase(Locale.ROOT);
        if (!List.of("false", "off", "0", "no").contains(replication)) {
            fatal(SqlState.FEATURE_NOT_SUPPORTED, "replication connections are not supported through the metako proxy;"
                    + " connect to the node directly");
            return;
        }
        Map<String, String> params = new LinkedHashMap<>(startup.parameters());
        params.remove("user");
        params.put("database", startup.database());
        backendParameters = params;
        authenticator = new ClientAuthenticator(settings.clientAuth(), startup.user(), settings.users().get(startup.user()));
        client.writeAndFlush(authenticator.request(client.alloc()));
    }

    private void authMessage(ChannelHandlerContext ctx, Frame f) {
        if (f.type() != FrontendMessages.PASSWORD) {
            throw new ProtocolException("expected a password response, got message type '" + (char) f.type() + "'");
        }
        ClientAuthenticator.Step step = authenticator.onPassword(f.payload(), client.alloc());
        if (step.answer() != null) {
            client.write(step.answer());
        }
        switch (step.outcome()) {
            case CONTINUE -> client.flush();
            case AUTHENTICATED -> authenticated(ctx);
            case REFUSED -> {
                LOG.info("proxy login refused for user \"{}\" from {}: wrong password or unknown user", startup.user(),
                        client.remoteAddress());
                fatal(SqlState.INVALID_PASSWORD, "password authentication failed for user \"" + startup.user() + "\"");
            }
        }
    }

    /** The client proved who it is: the session takes over the channel and connects its first backend. */
    private void authenticated(ChannelHandlerContext ctx) {
        if (!session.loginSettled.compareAndSet(false, true)) {
            return; // evicted a moment ago by a full proxy: its error is on the way and the socket closing
        }
        router.loginDone(session);
        client.writeAndFlush(BackendMessages.authenticationOk(client.alloc()));
        startupTimer.cancel(false);
        ended = true;
        if (ctx.pipeline().get("frames") instanceof FrontendFrameDecoder frames) {
            frames.authenticated();
        }
        ctx.pipeline().replace(this, "session", session);
        session.start(backendParameters);
    }

    /** Ends the login with a FATAL ErrorResponse. */
    private void fatal(String sqlState, String message) {
        if (ended) {
            return;
        }
        LOG.debug("ending proxy login {}: {} {}", session.processId, sqlState, message);
        if (client.isActive()) {
            client.writeAndFlush(BackendMessages.errorResponse(client.alloc(), "FATAL", sqlState, message))
                    .addListener(ChannelFutureListener.CLOSE);
        }
        end();
    }

    private void end() {
        if (!ended) {
            ended = true;
            startupTimer.cancel(false);
            router.sessionEnded(session);
        }
    }
}

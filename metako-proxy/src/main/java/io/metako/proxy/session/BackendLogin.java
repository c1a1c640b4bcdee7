package io.metako.proxy.session;

import io.metako.proxy.auth.Md5Password;
import io.metako.proxy.auth.ScramClientExchange;
import io.metako.proxy.auth.ScramServerExchange;
import io.metako.proxy.protocol.BackendMessages;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.protocol.ProtocolException;
import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.protocol.StartupMessage;
import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's login to a backend, as the handler in front of its {@link BackendLink} until the first
 * ReadyForQuery, which removes it: the StartupMessage with the session's parameters, then SCRAM-SHA-256,
 * md5, cleartext or trust, as the server asks. What the server tells (parameters, BackendKeyData) and a
 * refusal are handed to the link. TLS, when wanted, is set up before it by {@link BackendTlsRequest}.
 *
 * <p>Buffers: the bytes read are gathered here until whole messages are there, and released; anything
 * after the first ReadyForQuery is passed on to the link.
 */
final class BackendLogin extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(BackendLogin.class);
    private final BackendLink link;
    private final RoutingTable.Backend backend;
    private final RouterSettings.BackendLogin login;
    private final Map<String, String> parameters;
    private final int maxMessageSize;
    /** Derives salted passwords off the event loop (PBKDF2 takes milliseconds); shared by the router's sessions. */
    private final Executor deriver;
    private ByteBuf gathered;
    private ScramClientExchange scram;
    private boolean done;

    BackendLogin(BackendLink link, RouterSettings.BackendLogin login, Map<String, String> parameters, int maxMessageSize,
                 Executor deriver) {
        this.link = link;
        this.backend = link.backend;
        this.login = login;
        this.parameters = parameters;
        this.maxMessageSize = maxMessageSize;
        this.deriver = deriver;
    }

    /** The connection is open (and TLS is up, if {@link BackendTlsRequest} went first): the StartupMessage goes out. */
    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.fireChannelActive();
        Map<String, String> params = new LinkedHashMap<>(parameters);
        params.put("user", login.user());
        ctx.writeAndFlush(FrontendMessages.startup(ctx.alloc(), params));
        ctx.read();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        if (done) {
            ctx.fireChannelRead(in);
            return;
        }
        if (link.closing()) {
            in.release(); // the link was given up while logging in: the login must not complete
            return;
        }
        if (gathered == null) {
            gathered = in;
        } else {
            ByteBuf both = ctx.alloc().buffer(gathered.readableBytes() + in.readableBytes()).writeBytes(gathered).writeBytes(in);
            gathered.release();
            in.release();
            gathered = both;
        }
        try {
            while (!done && gathered.readableBytes() >= 5) {
                int at = gathered.readerIndex();
                byte type = gathered.getByte(at);
                int length = gathered.getInt(at + 1);
                if (length < 4 || length > maxMessageSize) {
                    throw new ProtocolException("backend " + backend.name() + " sent login message '" + (char) type
                            + "' with invalid length " + length);
                }
                if (gathered.readableBytes() < 1 + length) {
                    break;
                }
                message(ctx, type, gathered.slice(at + 5, length - 4));
                gathered.skipBytes(1 + length);
            }
        } finally {
            passOnRest(ctx);
        }
    }

    /** Keeps a partial message for the next read; after the login, hands whatever followed to the link. */
    private void passOnRest(ChannelHandlerContext ctx) {
        ByteBuf g = gathered;
        gathered = null;
        if (!g.isReadable()) {
            g.release();
        } else if (done) {
            ctx.fireChannelRead(g);
        } else {
            gathered = g;
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (done) {
            ctx.fireChannelReadComplete();
        } else {
            ctx.read();
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (gathered != null && !done) { // once done, channelRead still holds it and passes the rest on
            gathered.release();
            gathered = null;
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (done) {
            ctx.fireExceptionCaught(cause);
            return;
        }
        boolean forGood = cause instanceof ProtocolException || cause.getCause() instanceof ProtocolException
                || BackendTlsRequest.tlsProblem(cause); // an untrusted or broken TLS peer: no retry
        link.loginFailed(forGood ? SqlState.CONNECTION_FAILURE : null, cause.getMessage()); // for good: no retry
        LOG.debug("backend {} connection failed during login: {}", backend.name(), cause.toString());
        ctx.close();
    }

    private void message(ChannelHandlerContext ctx, byte type, ByteBuf payload) {
        switch (type) {
            case 'R' -> authenticate(ctx, payload);
            case 'S' -> {
                ByteBuf in = payload.duplicate();
                String name = StartupMessage.readCString(in);
                link.parameter(name, StartupMessage.readCString(in));
            }
            case 'K' -> link.keyData(payload.getInt(payload.readerIndex()), payload.getInt(payload.readerIndex() + 4));
            case 'E' -> {
                Map<Character, String> f = BackendMessages.fields(payload);
                link.loginFailed(f.getOrDefault('C', "08006"), f.getOrDefault('M', "login refused"));
                ctx.close();
            }
            case 'Z' -> {
                done = true;
                ctx.pipeline().remove(this);
                link.loggedIn((char) payload.getByte(payload.readerIndex()));
            }
            default -> {
                // NoticeResponse and the like during login: nothing to do
            }
        }
    }

    private void authenticate(ChannelHandlerContext ctx, ByteBuf payload) {
        int code = payload.getInt(payload.readerIndex());
        ByteBuf data = payload.slice(payload.readerIndex() + 4, payload.readableBytes() - 4);
        try {
            switch (code) {
                case BackendMessages.AUTH_OK -> {
                }
                case BackendMessages.AUTH_CLEARTEXT -> ctx.writeAndFlush(FrontendMessages.passwordMessage(ctx.alloc(),
                        requirePassword()));
                case BackendMessages.AUTH_MD5 -> {
                    byte[] salt = ByteBufUtil.getBytes(data, data.readerIndex(), 4);
                    ctx.writeAndFlush(FrontendMessages.passwordMessage(ctx.alloc(),
                            Md5Password.answer(login.user(), requirePassword(), salt)));
                }
                case BackendMessages.AUTH_SASL -> {
                    String mechanisms = data.toString(StandardCharsets.UTF_8);
                    if (!Arrays.asList(mechanisms.split("\0")).contains("SCRAM-SHA-256")) {
                        throw new ProtocolException("backend offers no SASL mechanism the proxy supports: " + mechanisms.replace('\0', ' '));
                    }
                    scram = new ScramClientExchange("", requirePassword(), ClientAuthenticator.nonce());
                    ctx.writeAndFlush(FrontendMessages.saslInitialResponse(ctx.alloc(), "SCRAM-SHA-256", scram.clientFirst()));
                }
                case BackendMessages.AUTH_SASL_CONTINUE -> {
                    String serverFirst = data.toString(StandardCharsets.UTF_8);
                    if (scram.derivationPending(serverFirst)) {
                        deriveOffLoop(ctx, serverFirst); // the first login per backend salt: PBKDF2 must not stall the loop
                    } else {
                        ctx.writeAndFlush(FrontendMessages.saslResponse(ctx.alloc(), scram.clientFinal(serverFirst)));
                    }
                }
                case BackendMessages.AUTH_SASL_FINAL -> {
                    if (!scram.serverVerified(data.toString(StandardCharsets.UTF_8))) {
                        throw new ProtocolException("backend " + backend.name() + " failed to prove it knows the password (SCRAM server signature)");
                    }
                }
                default -> throw new ProtocolException("backend " + backend.name() + " asks for authentication method "
                        + code + ", which the proxy does not support (use scram-sha-256, md5, password or trust)");
            }
        } catch (ScramServerExchange.ScramException e) {
            throw new ProtocolException(e.getMessage());
        }
    }

    private void deriveOffLoop(ChannelHandlerContext ctx, String serverFirst) {
        ScramClientExchange exchange = scram;
        deriver.execute(() -> {
            Throwable failure = null;
            try {
                exchange.derive(serverFirst);
            } catch (ScramServerExchange.ScramException | RuntimeException e) {
                failure = e;
            }
            Throwable f = failure;
            ctx.executor().execute(() -> {
                if (link.phase() != BackendLink.Phase.LOGIN) {
                    return; // the connection ended meanwhile
                }
                try {
                    if (f != null) {
                        throw new ProtocolException(f.getMessage());
                    }
                    ctx.writeAndFlush(FrontendMessages.saslResponse(ctx.alloc(), exchange.clientFinal(serverFirst)));
                } catch (ScramServerExchange.ScramException | RuntimeException e) {
                    exceptionCaught(ctx, e instanceof ScramServerExchange.ScramException ? new ProtocolException(e.getMessage()) : e);
                }
            });
        });
    }

    private String requirePassword() {
        if (login.password() == null || login.password().isEmpty()) {
            throw new ProtocolException("backend " + backend.name() + " asks for a password but node " + backend.name()
                    + " has no password configured (nodes[].password or password_file)");
        }
        return login.password();
    }
}

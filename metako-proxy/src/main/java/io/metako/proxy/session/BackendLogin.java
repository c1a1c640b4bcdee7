package io.metako.proxy.session;

import io.metako.proxy.auth.Md5Password;
import io.metako.proxy.auth.ScramClientExchange;
import io.metako.proxy.auth.ScramServerExchange;
import io.metako.proxy.protocol.BackendMessageScanner;
import io.metako.proxy.protocol.BackendMessages;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.protocol.ProtocolException;
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

/**
 * The proxy's login to a backend, as the handler in front of its {@link BackendLink} until the first
 * ReadyForQuery, which removes it: the StartupMessage with the session's parameters, then SCRAM-SHA-256,
 * md5, cleartext or trust, as the server asks. What the server tells (parameters, BackendKeyData) and a
 * refusal are handed to the link. TLS, when wanted, is set up before it by {@link BackendTlsRequest}.
 *
 * <p>The bytes go through the link's own {@link BackendMessageScanner} (one framing for the whole
 * connection), which hands each login message here whole until the first ReadyForQuery; errors and the
 * close go on to the link, which records why a login failed.
 */
final class BackendLogin extends ChannelInboundHandlerAdapter implements BackendMessageScanner.Sink {
    private final BackendLink link;
    private final RoutingTable.Backend backend;
    private final RouterSettings.BackendLogin login;
    private final Map<String, String> parameters;
    /** Derives salted passwords off the event loop (PBKDF2 takes milliseconds); shared by the router's sessions. */
    private final Executor deriver;
    private ChannelHandlerContext ctx;
    private ScramClientExchange scram;
    /** The server proved it knows the password (SCRAM server-final checked). */
    private boolean scramVerified;
    /** The server said AuthenticationOk: parameters and ReadyForQuery may follow. */
    private boolean authenticationOk;
    /** The transaction status of the first ReadyForQuery. */
    private char status;
    /** The first ReadyForQuery went by: what follows in the same read is the link's. */
    private boolean done;

    BackendLogin(BackendLink link, RouterSettings.BackendLogin login, Map<String, String> parameters, Executor deriver) {
        this.link = link;
        this.backend = link.backend;
        this.login = login;
        this.parameters = parameters;
        this.deriver = deriver;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        link.readVia(this);
    }

    /** The connection is open (and TLS is up, if {@link BackendTlsRequest} went first): the StartupMessage goes out. */
    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.fireChannelActive();
        if (login.user() == null) {
            // never another node's credentials: they would be sent to a server that may not be ours
            throw new ProtocolException("node " + backend.name() + " is in the cluster's topology but not in this instance's"
                    + " configuration (nodes:), so it has no credentials to log in with: add it there");
        }
        Map<String, String> params = new LinkedHashMap<>(parameters);
        params.put("user", login.user());
        ctx.writeAndFlush(FrontendMessages.startup(ctx.alloc(), params));
        ctx.read();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        ctx.read(); // still logging in: the first ReadyForQuery removes this handler
    }

    // ---- the server's login messages, as the link's scanner gathers them ------------------------------

    @Override
    public BackendMessageScanner.Action classify(byte type, int length) {
        return done ? link.replies().classify(type, length) : BackendMessageScanner.Action.INSPECT;
    }

    @Override
    public boolean inspect(byte type, ByteBuf payload) {
        if (done) {
            return link.replies().inspect(type, payload);
        }
        if ((type == 'Z' || type == 'S' || type == 'K') && !authenticationOk) {
            // a session's parameters and its end of login come only after the server accepted us: a server that
            // skips AuthenticationOk (or an impostor that never asked for the password it should know) is not one
            throw new ProtocolException("backend " + backend.name() + " sent '" + (char) type
                    + "' before AuthenticationOk: it did not complete the authentication");
        }
        if (type == 'Z') {
            status = (char) payload.getByte(payload.readerIndex());
        } else {
            message(type, payload);
        }
        return false;
    }

    /**
     * After the first ReadyForQuery the link reads for itself; messages that came in the same read are passed
     * on to it from here (the scanner keeps the sink it was given for the whole read).
     */
    @Override
    public void afterInspect(byte type) {
        if (done) {
            link.replies().afterInspect(type);
        } else if (type == 'Z') {
            done = true;
            ctx.pipeline().remove(this);
            link.loggedIn(status);
        }
    }

    @Override
    public void relay(ByteBuf bytes) {
        link.replies().relay(bytes); // only once done: every login message is inspected
    }

    private void message(byte type, ByteBuf payload) {
        switch (type) {
            case 'R' -> authenticate(payload);
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
            default -> {
                // NoticeResponse and the like during login: nothing to do
            }
        }
    }

    private void authenticate(ByteBuf payload) {
        int code = payload.getInt(payload.readerIndex());
        ByteBuf data = payload.slice(payload.readerIndex() + 4, payload.readableBytes() - 4);
        try {
            switch (code) {
                case BackendMessages.AUTH_OK -> {
                    if (scram != null && !scramVerified) {
                        // libpq refuses this too: a server that skips the proof may not know the password at all
                        throw new ProtocolException("backend " + backend.name() + " ended the SCRAM exchange with"
                                + " AuthenticationOk before proving it knows the password");
                    }
                    authenticationOk = true;
                }
                case BackendMessages.AUTH_CLEARTEXT -> {
                    String password = requirePassword();
                    if (!login.tls().mode().verifies() && !login.cleartextToUnverified()) {
                        throw new ProtocolException("backend " + backend.name() + " asks for the password in clear text,"
                                + " and its certificate is not verified (security.backend_sslmode is "
                                + login.tls().mode().setting() + "): use scram-sha-256 in its pg_hba.conf, or verify-ca /"
                                + " verify-full, or set security.backend_allow_cleartext_password");
                    }
                    ctx.writeAndFlush(FrontendMessages.passwordMessage(ctx.alloc(), password));
                }
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
                    if (scram == null) {
                        throw new ProtocolException("backend " + backend.name() + " continued a SASL exchange that never began");
                    }
                    String serverFirst = data.toString(StandardCharsets.UTF_8);
                    if (scram.derivationPending(serverFirst)) {
                        deriveOffLoop(serverFirst); // the first login per backend salt: PBKDF2 must not stall the loop
                    } else {
                        ctx.writeAndFlush(FrontendMessages.saslResponse(ctx.alloc(), scram.clientFinal(serverFirst)));
                    }
                }
                case BackendMessages.AUTH_SASL_FINAL -> {
                    if (scram == null || !scram.serverVerified(data.toString(StandardCharsets.UTF_8))) {
                        throw new ProtocolException("backend " + backend.name() + " failed to prove it knows the password (SCRAM server signature)");
                    }
                    scramVerified = true;
                }
                default -> throw new ProtocolException("backend " + backend.name() + " asks for authentication method "
                        + code + ", which the proxy does not support (use scram-sha-256, md5, password or trust)");
            }
        } catch (ScramServerExchange.ScramException e) {
            throw new ProtocolException(e.getMessage());
        }
    }

    private void deriveOffLoop(String serverFirst) {
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
                    ctx.fireExceptionCaught(e instanceof ScramServerExchange.ScramException
                            ? new ProtocolException(e.getMessage()) : e); // the link records why the login failed
                }
            });
        });
    }

    /** Whether a login that failed with {@code cause} is refused for good: a protocol error or a TLS problem, not a broken connection. */
    static boolean isFinal(Throwable cause) {
        return cause instanceof ProtocolException || cause.getCause() instanceof ProtocolException
                || BackendTlsRequest.tlsProblem(cause);
    }

    private String requirePassword() {
        if (login.password() == null || login.password().isEmpty()) {
            throw new ProtocolException("backend " + backend.name() + " asks for a password but node " + backend.name()
                    + " has no password configured (nodes[].password or password_file)");
        }
        return login.password();
    }
}

package io.metako.proxy.session;

import io.metako.proxy.auth.ScramClientExchange;
import io.metako.proxy.auth.ScramServerExchange;
import io.metako.proxy.protocol.BackendMessageScanner;
import io.metako.proxy.protocol.BackendMessages;
import io.metako.proxy.protocol.FrontendFrameDecoder;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.protocol.ProtocolException;
import io.metako.proxy.protocol.StartupMessage;
import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandler;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLParameters;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client session's connection to one backend. It logs in with the configured credentials
 * (SCRAM-SHA-256, md5, cleartext or trust, as the server asks), then carries units of work: each
 * Query, FunctionCall or Parse..Sync the session sends is a unit answered by one ReadyForQuery.
 * Units are the session's (answers relayed to the client) or the proxy's own (SET replay and the
 * read-your-writes LSN query, answers dropped); a FIFO of units says whose answer is arriving.
 *
 * <p>When its session ends cleanly (idle, nothing in flight), a link is reset with DISCARD ALL and
 * parked in the {@link BackendPool} of its event loop; the next session that needs the same node with
 * the same startup parameters adopts it instead of connecting (and PostgreSQL forking a backend whose
 * caches start cold). While parked it belongs to no session.
 *
 * <p>All methods run on the session's event loop.
 */
final class BackendLink extends ChannelInboundHandlerAdapter implements BackendMessageScanner.Sink {
    private static final Logger LOG = LoggerFactory.getLogger(BackendLink.class);

    enum Phase { CONNECTING, LOGIN, READY, CLOSED }

    enum Owner { CLIENT, SWALLOW, LSN }

    /** One unit sent and not yet answered by ReadyForQuery. */
    static final class Unit {
        final Owner owner;
        int suppressParse;
        int suppressClose;
        boolean failed;
        boolean answered;

        Unit(Owner owner) {
            this.owner = owner;
        }
    }

    private ClientSession session;
    /** The pool holding this link while it belongs to no session, else null. */
    private BackendPool parkedIn;
    private ScheduledFuture<?> idleTimer;
    /** close() was called: the connection is on its way out (a Terminate may still be in flight). */
    private boolean closeRequested;
    final RoutingTable.Backend backend;
    /** The node and the startup parameters this link logged in with: links with equal keys are interchangeable. */
    final String poolKey;
    private final RouterSettings.BackendLogin login;
    private final BackendMessageScanner scanner;
    Channel channel;
    Phase phase = Phase.CONNECTING;
    int processId;
    int secretKey;
    final Map<String, String> parameters = new LinkedHashMap<>();
    /** Named prepared statements this backend holds, by the session's version of each. */
    final Map<String, Integer> statements = new HashMap<>();
    /** The session's version of the unnamed statement this backend holds; 0: none (or unknown). */
    int unnamedVersion;
    private final ArrayDeque<Unit> units = new ArrayDeque<>();
    private final ArrayDeque<Object[]> deferred = new ArrayDeque<>();
    private boolean unitOpen;
    private int clientUnits;
    private ScramClientExchange scram;
    /** The error that ended the login, if one did (an ErrorResponse payload copy, or text). */
    String loginError;
    String loginSqlState;
    boolean waitingForClient;
    /** The backend said FATAL before answering a unit that will run elsewhere: the rest is noise. */
    private boolean dying;
    /** SSLRequest was sent and the server's one-byte answer has not been read yet. */
    private boolean tlsAnswerPending;

    BackendLink(ClientSession session, RoutingTable.Backend backend, RouterSettings.BackendLogin login, int maxInspected,
                String poolKey) {
        this.session = session;
        this.backend = backend;
        this.poolKey = poolKey;
        this.login = login;
        this.scanner = new BackendMessageScanner(maxInspected);
    }

    // ---- Netty --------------------------------------------------------------------------------

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        phase = Phase.LOGIN;
        if (login.tls().mode() != RouterSettings.SslMode.DISABLE) {
            tlsAnswerPending = true;
            ctx.writeAndFlush(ctx.alloc().buffer(8).writeInt(8).writeInt(FrontendFrameDecoder.SSL_REQUEST));
            ctx.read();
            return;
        }
        sendStartup(ctx);
    }

    private void sendStartup(ChannelHandlerContext ctx) {
        Map<String, String> params = new LinkedHashMap<>(session.backendParameters());
        params.put("user", login.user());
        ctx.writeAndFlush(FrontendMessages.startup(ctx.alloc(), params));
        ctx.read();
    }

    /**
     * The server's one-byte answer to SSLRequest: 'S' starts TLS and then the login, 'N' goes on in plain
     * text unless the sslmode insists. Anything more than that byte is refused: bytes sent before the TLS
     * handshake could have been injected by a man in the middle (CVE-2021-23222).
     */
    private void tlsAnswer(ChannelHandlerContext ctx, ByteBuf in) {
        RouterSettings.SslMode mode = login.tls().mode();
        try {
            if (in.readableBytes() != 1) {
                throw new ProtocolException("node " + backend.name() + " answered SSLRequest with " + in.readableBytes()
                        + " bytes instead of one");
            }
            byte answer = in.readByte();
            tlsAnswerPending = false;
            if (answer == 'N') {
                if (mode.insists()) {
                    throw new ProtocolException("node " + backend.name() + " (" + backend.host() + ":" + backend.port()
                            + ") does not accept TLS connections, and security.backend_sslmode is " + mode.setting()
                            + ": turn ssl on in its postgresql.conf, or lower backend_sslmode");
                }
                sendStartup(ctx);
            } else if (answer == 'S') {
                SslHandler tls = login.tls().context().newHandler(ctx.alloc(), backend.host(), backend.port());
                if (mode == RouterSettings.SslMode.VERIFY_FULL) {
                    SSLParameters p = tls.engine().getSSLParameters();
                    p.setEndpointIdentificationAlgorithm("HTTPS"); // the certificate must name the configured host
                    tls.engine().setSSLParameters(p);
                }
                ctx.pipeline().addBefore(ctx.name(), "backend-tls", tls);
                tls.handshakeFuture().addListener(f -> {
                    if (f.isSuccess()) {
                        sendStartup(ctx);
                    } else {
                        tlsFailed(f.cause());
                    }
                });
            } else {
                throw new ProtocolException("node " + backend.name() + " answered SSLRequest with '" + (char) answer + "'");
            }
        } finally {
            in.release();
        }
    }

    /** The TLS handshake failed (an untrusted certificate, a host it does not name): refused for good, no retry. */
    private void tlsFailed(Throwable cause) {
        if (loginError == null) {
            Throwable root = cause;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            loginError = "TLS handshake with node " + backend.name() + " (" + backend.host() + ":" + backend.port()
                    + ") failed, security.backend_sslmode " + login.tls().mode().setting() + ": " + root.getMessage();
            loginSqlState = io.metako.proxy.protocol.SqlState.CONNECTION_FAILURE;
        }
    }

    private static boolean tlsProblem(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof javax.net.ssl.SSLException) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (phase == Phase.CLOSED || closeRequested) { // closing: whatever it still sends is nobody's answer any more
            io.netty.util.ReferenceCountUtil.release(msg);
            return;
        }
        if (tlsAnswerPending) {
            tlsAnswer(ctx, (ByteBuf) msg);
            return;
        }
        scanner.feed((ByteBuf) msg, this);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (parkedIn != null) {
            read(); // a parked link keeps a read pending, to see its reset answered or the server go away
        } else {
            session.backendReadComplete(this);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        LOG.debug("backend connection to {} closed", backend.name());
        scanner.discard();
        Phase was = phase;
        phase = Phase.CLOSED;
        if (parkedIn != null) {
            unpark();
        } else {
            session.linkClosed(this, was);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (parkedIn == null) {
            session.linkWritabilityChanged(this);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (phase == Phase.LOGIN && loginError == null && tlsProblem(cause)) {
            tlsFailed(cause);
        }
        if (phase == Phase.LOGIN && loginError == null) {
            loginError = cause.getMessage();
            if (cause instanceof ProtocolException || cause.getCause() instanceof ProtocolException) {
                loginSqlState = io.metako.proxy.protocol.SqlState.CONNECTION_FAILURE; // refused for good: no retry
            }
        }
        LOG.debug("backend {} connection failed: {}", backend.name(), cause.toString());
        ctx.close();
    }

    // ---- units ----------------------------------------------------------------------------------

    /** Sends one client message (its frame's wire bytes, handed over), opening a unit when none is open. */
    void sendClient(ByteBuf wire, byte type) {
        openUnit();
        channel.write(wire, channel.voidPromise());
        if (type == FrontendMessages.SYNC || type == FrontendMessages.QUERY || type == FrontendMessages.FUNCTION_CALL) {
            unitOpen = false;
            sendDeferred();
        }
    }

    /** A message the proxy adds to the open client unit (a re-parse); its answer is dropped. */
    void injectParse(byte[] parseWire) {
        injectParse(parseWire, parseWire.length);
    }

    /** Sends the Parse message {@code parseWire[0, length)} of the session's, its ParseComplete not relayed. */
    void injectParse(byte[] parseWire, int length) {
        openUnit();
        units.peekLast().suppressParse++;
        channel.write(channel.alloc().buffer(length).writeBytes(parseWire, 0, length), channel.voidPromise());
    }

    void injectClose(String statement) {
        openUnit();
        units.peekLast().suppressClose++;
        channel.write(FrontendMessages.close(channel.alloc(), 'S', statement), channel.voidPromise());
    }

    private void openUnit() {
        if (!unitOpen) {
            units.add(new Unit(Owner.CLIENT));
            clientUnits++;
            unitOpen = true;
        }
    }

    /** A query of the proxy's own, sent between the session's units; its answer is not relayed. */
    void sendInternal(String sql, Owner owner) {
        if (unitOpen || phase != Phase.READY) {
            deferred.add(new Object[] {sql, owner});
            return;
        }
        writeInternal(sql, owner);
        channel.flush();
    }

    private void sendDeferred() {
        while (!deferred.isEmpty() && !unitOpen && phase == Phase.READY) {
            Object[] d = deferred.poll();
            writeInternal((String) d[0], (Owner) d[1]);
        }
    }

    /** Writes one of the proxy's own queries as a unit of {@code owner}'s. */
    private void writeInternal(String sql, Owner owner) {
        units.add(new Unit(owner));
        unnamedVersion = 0; // a simple Query drops the backend's unnamed statement
        channel.write(FrontendMessages.query(channel.alloc(), sql), channel.voidPromise());
    }

    /** Part of a message from this backend has been relayed and the rest has not arrived yet. */
    boolean midMessage() {
        return scanner.midMessage();
    }

    /** Units of the session still unanswered here, or one still being sent. */
    boolean busy() {
        return clientUnits > 0 || unitOpen;
    }

    void read() {
        if (phase != Phase.CLOSED) {
            channel.read();
        }
    }

    /**
     * Whether the session may hand this link to the pool: logged in, nothing sent and unanswered, no
     * transaction open (the last ReadyForQuery said idle) and not failing.
     */
    boolean reusable() {
        return phase == Phase.READY && channel.isActive() && !closeRequested && units.isEmpty() && !unitOpen
                && deferred.isEmpty() && !dying && lastStatus == 'I' && !scanner.midMessage();
    }

    /**
     * Leaves the session: resets the server session (DISCARD ALL: settings, prepared statements, temporary
     * tables, LISTENs, advisory locks) and waits in {@code pool}, at most {@code idleTimeout}.
     */
    void park(BackendPool pool, Duration idleTimeout) {
        session = null;
        parkedIn = pool;
        waitingForClient = false;
        statements.clear();
        sendInternal("DISCARD ALL", Owner.SWALLOW);
        idleTimer = channel.eventLoop().schedule(() -> {
            if (parkedIn == pool) {
                LOG.debug("closing idle pooled backend connection to {}", backend.name());
                close();
            }
        }, idleTimeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Parked, and the reset is done: it can serve a session now. */
    boolean parkedAndReset() {
        return parkedIn != null && phase == Phase.READY && units.isEmpty() && channel.isActive() && !closeRequested;
    }

    /** Taken from the pool by {@code s}, which now owns it. */
    void adopt(ClientSession s) {
        unpark();
        session = s;
    }

    private void unpark() {
        if (parkedIn != null) {
            parkedIn.remove(this);
            parkedIn = null;
        }
        if (idleTimer != null) {
            idleTimer.cancel(false);
            idleTimer = null;
        }
    }

    void close() {
        closeRequested = true;
        LOG.debug("closing backend connection to {} ({})", backend.name(), phase);
        if (channel != null && channel.isActive()) {
            if (phase == Phase.READY) {
                channel.writeAndFlush(FrontendMessages.terminate(channel.alloc())).addListener(f -> channel.close());
            } else {
                channel.close();
            }
        }
    }

    // ---- what the backend sends -------------------------------------------------------------

    @Override
    public BackendMessageScanner.Action classify(byte type, int length) {
        if (phase != Phase.READY) {
            return BackendMessageScanner.Action.INSPECT;
        }
        if (dying) {
            return BackendMessageScanner.Action.DROP;
        }
        Unit head = units.peek();
        if (head == null) {
            // between units: a notification or notice the session may pass on, a FATAL error, or noise
            if (type == 'E') {
                return BackendMessageScanner.Action.INSPECT;
            }
            if (type == 'A' || type == 'N') {
                if (parkedIn != null) {
                    return BackendMessageScanner.Action.DROP; // nobody to tell
                }
                // passed on now, or kept until the unit running elsewhere has been answered
                return session.idle() ? BackendMessageScanner.Action.RELAY : BackendMessageScanner.Action.INSPECT;
            }
            return BackendMessageScanner.Action.DROP;
        }
        if (type == 'Z' || type == 'E') {
            return BackendMessageScanner.Action.INSPECT;
        }
        if (head.owner == Owner.CLIENT) {
            if (!head.answered) {
                head.answered = true;
                session.unitAnswered(this);
            }
            if (type == '1' && head.suppressParse > 0) {
                head.suppressParse--;
                return BackendMessageScanner.Action.DROP;
            }
            if (type == '3' && head.suppressClose > 0) {
                head.suppressClose--;
                return BackendMessageScanner.Action.DROP;
            }
            return BackendMessageScanner.Action.RELAY;
        }
        return head.owner == Owner.LSN && type == 'D' ? BackendMessageScanner.Action.INSPECT : BackendMessageScanner.Action.DROP;
    }

    @Override
    public boolean inspect(byte type, ByteBuf payload) {
        if (phase != Phase.READY) {
            login(type, payload);
            return false;
        }
        Unit head = units.peek();
        if (head == null && (type == 'A' || type == 'N')) {
            session.holdAsync(type, payload);
            return false;
        }
        if (type == 'E') {
            if (head == null) {
                LOG.info("backend {} sent an error outside any statement: {}", backend.name(), BackendMessages.describeError(payload));
                if (parkedIn != null) {
                    close(); // not to be handed to a session
                } else {
                    session.linkFailing(this);
                }
                return false;
            }
            if (head.owner == Owner.CLIENT && !head.answered) {
                String severity = BackendMessages.fields(payload).getOrDefault('V', "");
                if ((severity.equals("FATAL") || severity.equals("PANIC")) && session.retryInstead(this)) {
                    LOG.info("backend {} is ending the connection ({}); the statement will run elsewhere", backend.name(),
                            BackendMessages.describeError(payload));
                    dying = true;
                    return false;
                }
                head.answered = true;
                session.unitAnswered(this);
            }
            head.failed = true;
            head.suppressParse = 0;
            head.suppressClose = 0;
            if (head.owner != Owner.CLIENT) {
                LOG.warn("statement replayed by the proxy on backend {} failed: {}", backend.name(),
                        BackendMessages.describeError(payload));
                return false;
            }
            return true;
        }
        if (type == 'D') { // the LSN query's row: one text column
            ByteBuf in = payload.duplicate();
            if (in.readShort() == 1) {
                int len = in.readInt();
                if (len > 0) {
                    session.lsnObserved(parseLsn(in.toString(in.readerIndex(), len, StandardCharsets.US_ASCII)));
                }
            }
            return false;
        }
        lastStatus = (char) payload.getByte(payload.readerIndex()); // 'Z'
        return head != null && head.owner == Owner.CLIENT;
    }

    @Override
    public void afterInspect(byte type) {
        if (type != 'Z' || phase != Phase.READY) {
            if (type == 'Z' && phase == Phase.LOGIN) {
                phase = Phase.READY;
                session.linkReady(this);
            }
            return;
        }
        Unit done = units.poll();
        if (done == null) {
            return;
        }
        if (parkedIn != null) {
            if (done.failed) {
                close(); // the reset failed: the session state it leaves is unknown
            }
            return;
        }
        sendDeferred();
        if (done.owner == Owner.CLIENT) {
            clientUnits--;
            session.clientUnitDone(this, lastStatus, done.failed);
        }
    }

    private char lastStatus = 'I';

    @Override
    public void relay(ByteBuf bytes) {
        session.relayToClient(bytes);
    }

    // ---- login ----------------------------------------------------------------------------------

    private void login(byte type, ByteBuf payload) {
        switch (type) {
            case 'R' -> authenticate(payload);
            case 'S' -> {
                ByteBuf in = payload.duplicate();
                String name = StartupMessage.readCString(in);
                parameters.put(name, StartupMessage.readCString(in));
            }
            case 'K' -> {
                processId = payload.getInt(payload.readerIndex());
                secretKey = payload.getInt(payload.readerIndex() + 4);
            }
            case 'E' -> {
                java.util.Map<Character, String> f = BackendMessages.fields(payload);
                loginSqlState = f.getOrDefault('C', "08006");
                loginError = f.getOrDefault('M', "login refused");
                channel.close();
            }
            case 'Z' -> lastStatus = (char) payload.getByte(payload.readerIndex());
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
                }
                case BackendMessages.AUTH_CLEARTEXT -> channel.writeAndFlush(FrontendMessages.passwordMessage(channel.alloc(),
                        requirePassword()));
                case BackendMessages.AUTH_MD5 -> {
                    byte[] salt = ByteBufUtil.getBytes(data, data.readerIndex(), 4);
                    channel.writeAndFlush(FrontendMessages.passwordMessage(channel.alloc(),
                            io.metako.proxy.auth.Md5Password.answer(login.user(), requirePassword(), salt)));
                }
                case BackendMessages.AUTH_SASL -> {
                    String mechanisms = data.toString(StandardCharsets.UTF_8);
                    if (!java.util.Arrays.asList(mechanisms.split("\0")).contains("SCRAM-SHA-256")) {
                        throw new ProtocolException("backend offers no SASL mechanism the proxy supports: " + mechanisms.replace('\0', ' '));
                    }
                    scram = new ScramClientExchange("", requirePassword(), ClientSession.nonce());
                    channel.writeAndFlush(FrontendMessages.saslInitialResponse(channel.alloc(), "SCRAM-SHA-256", scram.clientFirst()));
                }
                case BackendMessages.AUTH_SASL_CONTINUE -> {
                    String serverFirst = data.toString(StandardCharsets.UTF_8);
                    if (scram.derivationPending(serverFirst)) {
                        deriveOffLoop(serverFirst); // the first login per backend salt: PBKDF2 must not stall the loop
                    } else {
                        channel.writeAndFlush(FrontendMessages.saslResponse(channel.alloc(), scram.clientFinal(serverFirst)));
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

    /**
     * One thread derives salted passwords for every session's first backend login per salt (then
     * cached), so the event loop, which serves all sessions, never runs thousands of HMACs.
     */
    private static final java.util.concurrent.ExecutorService DERIVER = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "metako-scram");
        t.setDaemon(true);
        return t;
    });

    private void deriveOffLoop(String serverFirst) {
        ScramClientExchange exchange = scram;
        DERIVER.execute(() -> {
            Throwable failure = null;
            try {
                exchange.derive(serverFirst);
            } catch (ScramServerExchange.ScramException | RuntimeException e) {
                failure = e;
            }
            Throwable f = failure;
            channel.eventLoop().execute(() -> {
                if (phase != Phase.LOGIN) {
                    return; // the connection ended meanwhile
                }
                try {
                    if (f != null) {
                        throw new ProtocolException(f.getMessage());
                    }
                    channel.writeAndFlush(FrontendMessages.saslResponse(channel.alloc(), exchange.clientFinal(serverFirst)));
                } catch (ScramServerExchange.ScramException | RuntimeException e) {
                    channel.pipeline().fireExceptionCaught(e instanceof ScramServerExchange.ScramException
                            ? new ProtocolException(e.getMessage()) : e);
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

    /** "16/B374D848" to a number; -1 when it is not one. */
    static long parseLsn(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            return -1;
        }
        try {
            return (Long.parseLong(text.substring(0, slash), 16) << 32) | Long.parseLong(text.substring(slash + 1), 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    @Override
    public String toString() {
        return "BackendLink[" + backend.name() + ", " + phase + "]";
    }
}

package io.metako.proxy.session;

import io.metako.proxy.protocol.BackendMessageScanner;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.protocol.SqlState;
import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.util.ReferenceCountUtil;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One backend connection of the statement router, once {@link BackendLogin} has logged it in: it carries
 * units of work (each Query, FunctionCall or Parse..Sync answered by one ReadyForQuery), the session's and
 * the proxy's own, as its {@link UnitTracker} keeps them, and relays the answers to the session's client.
 * It belongs to a {@link LinkOwner}: the session it serves, or, between sessions, the {@link BackendPool}
 * of its event loop; it tells its owner what happens and never asks which of the two it has.
 *
 * <p>All methods run on the link's event loop, which is its session's.
 */
final class BackendLink extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(BackendLink.class);

    enum Phase { CONNECTING, LOGIN, READY, CLOSED }

    private LinkOwner owner;
    final RoutingTable.Backend backend;
    /** The node and the startup parameters this link logged in with: links with equal keys are interchangeable. */
    final String poolKey;
    private final BackendMessageScanner scanner;
    private final UnitTracker units = new UnitTracker();
    private final BackendReplies replies = new BackendReplies(this, units);
    /** Who reads what the backend sends: its {@link BackendLogin}, then, from the first ReadyForQuery on, its replies. */
    private BackendMessageScanner.Sink reading = replies;
    /** The prepared statements this backend holds. */
    final BackendStatements prepared = new BackendStatements();
    private Channel channel;
    private Phase phase = Phase.CONNECTING;
    /** What the server told at login: its parameters and BackendKeyData. */
    private final Map<String, String> parameters = new LinkedHashMap<>();
    private int processId;
    private int secretKey;
    /** Why the login failed, if it did. */
    private LoginFailure loginFailure;
    /** close() was called: the connection is on its way out (a Terminate may still be in flight). */
    private boolean closeRequested;
    /** Routed to as the primary (sticky through a transaction); see {@link #leaseBound()}. */
    private boolean leaseBound;
    /** Routed to as the primary with a unit that may write; see {@link #answersNeedLease()}. */
    private boolean answersNeedLease;
    /** Its owner stopped reading it until the client drains what was relayed. */
    private boolean waitingForClient;

    BackendLink(LinkOwner owner, RoutingTable.Backend backend, int maxInspected, String poolKey) {
        this.owner = owner;
        this.backend = backend;
        this.poolKey = poolKey;
        this.scanner = new BackendMessageScanner(maxInspected);
    }

    Phase phase() {
        return phase;
    }

    LinkOwner owner() {
        return owner;
    }

    int processId() {
        return processId;
    }

    int secretKey() {
        return secretKey;
    }

    /**
     * Why a login failed: the server's or the proxy's words, and the SQLSTATE when the refusal is final (the
     * database does not exist, a wrong password, an untrusted certificate); null when another try may work.
     */
    record LoginFailure(String message, String sqlState) {
    }

    /** Why the login failed; null when it did not, or no reason is known. */
    LoginFailure loginFailure() {
        return loginFailure;
    }

    EventLoop eventLoop() {
        return channel.eventLoop();
    }

    boolean writable() {
        return channel.isWritable();
    }

    /** Whether the unit it runs was routed to it as the primary: units pipelined behind it then need the lease. */
    boolean leaseBound() {
        return leaseBound;
    }

    /** Whether the answers of the unit it runs need the write lease (it may write: not a plain read). */
    boolean answersNeedLease() {
        return answersNeedLease;
    }

    /** Whether the session's own unit is what the backend runs now (not the proxy's, not still connecting). */
    boolean clientUnitRunning() {
        return phase == Phase.READY && units.answering() == UnitTracker.Owner.CLIENT;
    }

    io.netty.buffer.ByteBufAllocator alloc() {
        return channel != null ? channel.alloc() : io.netty.buffer.ByteBufAllocator.DEFAULT;
    }

    /** Whether the session's next units here were routed to the primary (else a replica): for statistics. */
    void route(boolean primary) {
        units.route(primary);
    }

    void leaseBound(boolean bound, boolean answers) {
        leaseBound = bound;
        answersNeedLease = answers;
    }

    void flush() {
        if (channel != null) {
            channel.flush();
        }
    }

    /** The client cannot take more now: no read until {@link #resumeForClient}. */
    void pauseForClient() {
        waitingForClient = true;
    }

    /** The client can take more: read again if reading stopped for it. */
    void resumeForClient() {
        if (waitingForClient) {
            waitingForClient = false;
            read();
        }
    }

    /** Hands the link to another owner (a session adopting it from the pool, or the pool keeping it). */
    void ownedBy(LinkOwner newOwner) {
        owner = newOwner;
        waitingForClient = false;
    }

    // ---- login: told by BackendLogin --------------------------------------------------------------

    /** The server's parameters (ParameterStatus at login), in the order it sent them. */
    Map<String, String> parameters() {
        return parameters;
    }

    void parameter(String name, String value) {
        parameters.put(name, value);
    }

    void keyData(int pid, int key) {
        processId = pid;
        secretKey = key;
    }

    /** Records why the login failed (the first reason wins); {@code sqlState} null: worth retrying. */
    void loginFailed(String sqlState, String message) {
        if (loginFailure == null) {
            loginFailure = new LoginFailure(message, sqlState);
        }
    }

    /** The login reads what the backend sends until it calls {@link #loggedIn}. */
    void readVia(BackendMessageScanner.Sink login) {
        reading = login;
    }

    /** How the link reads the backend's answers once logged in. */
    BackendMessageScanner.Sink replies() {
        return replies;
    }

    void loggedIn(char status) {
        reading = replies;
        replies.lastStatus(status);
        phase = Phase.READY;
        owner.linkReady(this);
    }

    /** The connection could not be opened. */
    void connectFailed(Throwable cause) {
        loginFailed(null, "cannot connect to " + backend.host() + ":" + backend.port() + ": " + cause.getMessage());
        phase = Phase.CLOSED;
        owner.linkClosed(this, Phase.CONNECTING);
    }

    // ---- Netty --------------------------------------------------------------------------------

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        phase = Phase.LOGIN;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (phase == Phase.CLOSED || closeRequested) { // closing: whatever it still sends is nobody's answer any more
            ReferenceCountUtil.release(msg);
            return;
        }
        scanner.feed((ByteBuf) msg, reading);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        owner.readComplete(this);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        LOG.debug("backend connection to {} closed", backend.name());
        scanner.discard();
        Phase was = phase;
        phase = Phase.CLOSED;
        owner.linkClosed(this, was);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        owner.writabilityChanged(this);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (phase != Phase.READY) {
            loginFailed(BackendLogin.isFinal(cause) ? SqlState.CONNECTION_FAILURE : null, cause.getMessage());
        }
        LOG.debug("backend {} connection failed: {}", backend.name(), cause.toString());
        ctx.close();
    }

    // ---- sending ----------------------------------------------------------------------------------

    /** Sends one client message (its frame's wire bytes, handed over), opening a unit when none is open. */
    void sendClient(ByteBuf wire, byte type) {
        boolean complete = units.clientMessage(type);
        channel.write(wire, channel.voidPromise());
        if (complete) {
            sendDeferred();
        }
    }

    /** Sends the Parse message {@code parseWire[0, length)} of the session's, its ParseComplete not relayed. */
    void injectParse(byte[] parseWire, int length) {
        units.parseAdded();
        channel.write(channel.alloc().buffer(length).writeBytes(parseWire, 0, length), channel.voidPromise());
    }

    /** Closes prepared statement {@code statement} inside the session's unit, its CloseComplete not relayed. */
    void injectClose(String statement) {
        units.closeAdded();
        channel.write(FrontendMessages.close(channel.alloc(), 'S', statement), channel.voidPromise());
    }

    /** A query of the proxy's own, sent between the session's units; its answer is not relayed. */
    void sendInternal(String sql, UnitTracker.Owner owner) {
        if (!units.internalMayGo() || phase != Phase.READY) {
            units.defer(new UnitTracker.Internal(sql, owner));
            return;
        }
        writeInternal(sql, owner);
        channel.flush();
    }

    void sendDeferred() {
        UnitTracker.Internal d;
        while (phase == Phase.READY && (d = units.nextDeferred()) != null) {
            writeInternal(d.sql(), d.owner());
        }
    }

    private void writeInternal(String sql, UnitTracker.Owner owner) {
        units.internalSent(owner);
        prepared.unnamed(0); // a simple Query drops the backend's unnamed statement
        channel.write(FrontendMessages.query(channel.alloc(), sql), channel.voidPromise());
    }

    void read() {
        if (phase != Phase.CLOSED) {
            channel.read();
        }
    }

    /** Ends the connection: a Terminate first once logged in; a connection still being opened is abandoned. */
    void close() {
        closeRequested = true;
        LOG.debug("closing backend connection to {} ({})", backend.name(), phase);
        if (channel == null) {
            return;
        }
        if (channel.isActive() && phase == Phase.READY) {
            channel.writeAndFlush(FrontendMessages.terminate(channel.alloc())).addListener(f -> channel.close());
        } else {
            channel.close(); // also fails a pending connect, which reports the link closed
        }
    }

    // ---- state ------------------------------------------------------------------------------------

    /** Part of a message from this backend has been relayed and the rest has not arrived yet. */
    boolean midMessage() {
        return scanner.midMessage();
    }

    /** Units of the session still unanswered here, or one still being sent. */
    boolean busy() {
        return units.busy();
    }

    /**
     * Whether it may be kept for another session: logged in, nothing sent and unanswered, no transaction
     * open (the last ReadyForQuery said idle) and not failing.
     */
    boolean reusable() {
        return phase == Phase.READY && channel.isActive() && !closeRequested && units.empty() && !replies.dying()
                && replies.lastStatus() == 'I' && !scanner.midMessage();
    }

    /** Logged in, open, and nothing in flight (a kept connection whose reset is done). */
    boolean idleAndOpen() {
        return phase == Phase.READY && units.noneInFlight() && channel.isActive() && !closeRequested;
    }

    @Override
    public String toString() {
        return "BackendLink[" + backend.name() + ", " + phase + "]";
    }
}

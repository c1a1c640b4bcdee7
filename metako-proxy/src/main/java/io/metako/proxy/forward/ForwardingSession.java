package io.metako.proxy.forward;

import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One forwarded client connection and its backend connection. Backpressure in both directions:
 * auto-read is off and each side reads its next chunk only while the other side's outbound buffer
 * is under Netty's high-water mark, so a slow reader never makes the proxy buffer a result set.
 * Buffers: each chunk read on one side is handed to the other side's write, which releases it.
 *
 * <p>The node is dialled only once the client has sent its first bytes (every PostgreSQL client speaks
 * first), and that first chunk waits for the connection: a socket that says nothing costs no node connection,
 * and is closed after {@code failover_wait}.
 */
final class ForwardingSession {
    private static final Logger LOG = LoggerFactory.getLogger(ForwardingSession.class);
    private static final long RETRY_MILLIS = 100;

    private final ForwardingProxy proxy;
    private final Channel client;
    private final long deadlineNanos;
    private volatile Channel backend;
    private volatile RoutingTable.Backend target;
    /** The client's first chunk, held while the node is dialled (event loop only). */
    private Object firstChunk;

    ForwardingSession(ForwardingProxy proxy, Channel client) {
        this.proxy = proxy;
        this.client = client;
        this.deadlineNanos = System.nanoTime() + proxy.failoverWait().toNanos();
    }

    ChannelHandler frontendHandler() {
        return new Side(true);
    }

    /**
     * One side of the relay: what it reads goes to the other side, its end closes the other side,
     * and when its outbound buffer drains the other side may read again.
     */
    private final class Side extends ChannelInboundHandlerAdapter {
        private final boolean clientSide;

        Side(boolean clientSide) {
            this.clientSide = clientSide;
        }

        private Channel other() {
            return clientSide ? backend : client;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            if (clientSide) {
                client.read(); // its first bytes, before any node is dialled
                client.eventLoop().schedule(() -> {
                    if (firstChunk == null && target == null && client.isActive()) {
                        LOG.debug("closing a forwarded client that sent nothing within {} ms", proxy.failoverWait().toMillis());
                        client.close();
                    }
                }, proxy.failoverWait().toMillis(), TimeUnit.MILLISECONDS);
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (clientSide && backend == null) {
                if (firstChunk != null) { // not read for until the node is connected: never drop bytes of a stream
                    io.netty.util.ReferenceCountUtil.release(msg);
                    close();
                    return;
                }
                firstChunk = msg;
                connect();
                return;
            }
            RoutingTable.Backend b = target;
            if (b != null && !proxy.mayCarry(b)) {
                // every chunk, both ways, under the lease: a table not yet applied here, or a lease that
                // lapsed while this event loop stalled, must not let a write (or its acknowledgement) through
                io.netty.util.ReferenceCountUtil.release(msg);
                LOG.info("closing a forwarded connection to {}: this instance holds no write lease for it now", b.name());
                close();
                return;
            }
            relay(msg, other(), ctx.channel());
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (clientSide) {
                dropFirstChunk();
            }
            closeOnFlush(other());
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            resumeWhenWritable(ctx, other());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("{} connection failed: {}", clientSide ? "client" : "backend", cause.toString());
            close();
        }
    }

    /** Connects to the current target, waiting (up to failover_wait) while there is none. */
    private void connect() {
        if (!client.isActive()) {
            return; // the client left while this waited for a target
        }
        Optional<RoutingTable.Backend> t = proxy.target();
        if (t.isEmpty()) {
            String closed = proxy.closed();
            if (closed != null) {
                LOG.info("closing a forwarded client connection at once: {}", closed);
                close();
            } else if (System.nanoTime() > deadlineNanos) {
                LOG.info("no {} to forward to within {} ms; closing the client connection",
                        proxy.role() == ForwardingProxy.Role.PRIMARY ? "primary" : "replica", proxy.failoverWait().toMillis());
                close();
            } else {
                client.eventLoop().schedule(this::connect, RETRY_MILLIS, TimeUnit.MILLISECONDS);
            }
            return;
        }
        target = t.get();
        proxy.bound(target, client);
        proxy.loops().connect(client.eventLoop(), new Side(false), target.host(), target.port())
                .addListener((ChannelFutureListener) f -> {
            if (f.isSuccess() && !client.isActive()) { // the client left while the node was dialled
                f.channel().close();
                close();
            } else if (f.isSuccess()) {
                backend = f.channel();
                backend.read();
                Object first = firstChunk;
                firstChunk = null;
                if (first != null && !proxy.mayCarry(target)) {
                    io.netty.util.ReferenceCountUtil.release(first);
                    close();
                } else if (first != null) {
                    relay(first, backend, client); // reads the client's next chunk once the node can take it
                } else {
                    client.read();
                }
            } else if (System.nanoTime() < deadlineNanos) {
                client.eventLoop().schedule(this::connect, RETRY_MILLIS, TimeUnit.MILLISECONDS);
            } else {
                close();
            }
        });
    }

    /**
     * Writes a chunk read from {@code from} to {@code to}. The next chunk is read at once while
     * {@code to} can take more (its outbound buffer is under the high-water mark); otherwise reading
     * resumes when {@code to} becomes writable again ({@link #resumeWhenWritable}), so memory stays bounded.
     */
    private static void relay(Object msg, Channel to, Channel from) {
        if (to == null || !to.isActive()) {
            io.netty.util.ReferenceCountUtil.release(msg);
            from.close();
            return;
        }
        to.writeAndFlush(msg).addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                f.channel().close();
                from.close();
            }
        });
        if (to.isWritable()) {
            from.read();
        }
    }

    /** {@code ctx}'s channel drained below the low-water mark: read from the other side again. */
    private static void resumeWhenWritable(ChannelHandlerContext ctx, Channel other) {
        if (ctx.channel().isWritable() && other != null && other.isActive()) {
            other.read();
        }
    }

    void checkStillValid(RoutingTable t) {
        RoutingTable.Backend b = target;
        if (b != null && !proxy.stillValid(t, b)) {
            LOG.info("closing a forwarded connection to {}: no longer the {} at epoch {}", b.name(),
                    proxy.role() == ForwardingProxy.Role.PRIMARY ? "primary" : "replica for reads", t.epoch());
            close();
        }
    }

    void close() {
        if (client.eventLoop().inEventLoop()) {
            dropFirstChunk();
        } else {
            client.eventLoop().execute(this::dropFirstChunk);
        }
        Channel b = backend;
        if (b != null) {
            b.close();
        }
        client.close();
    }

    /** Releases the client's held first chunk, if any (event loop only). */
    private void dropFirstChunk() {
        Object first = firstChunk;
        firstChunk = null;
        io.netty.util.ReferenceCountUtil.release(first);
    }

    private static void closeOnFlush(Channel ch) {
        if (ch != null && ch.isActive()) {
            ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }
}

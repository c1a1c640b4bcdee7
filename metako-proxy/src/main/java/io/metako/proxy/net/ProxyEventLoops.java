package io.metako.proxy.net;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringAdaptiveBufferRingAllocator;
import io.netty.channel.uring.IoUringBufferRingConfig;
import io.netty.channel.uring.IoUringChannelOption;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringIoHandlerConfig;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's event loops and the channel classes that go with them. Client and backend channels
 * of one session share one event loop, so a statement never crosses threads; the transport decides
 * how many system calls each statement costs, which on a virtual machine is most of the proxy's CPU
 * (docs/performance.md): io_uring submits a loop's reads and writes in one call, epoll and NIO make
 * one call each.
 */
public final class ProxyEventLoops implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ProxyEventLoops.class);

    /**
     * How sockets are driven. {@code AUTO} is io_uring where the kernel allows it (the least CPU per
     * statement), else epoll, else NIO.
     */
    public enum Transport {
        AUTO, IO_URING, EPOLL, NIO;

        /** From a setting ({@code auto}, {@code io_uring}, {@code epoll}, {@code nio}). */
        public static Transport parse(String text) {
            for (Transport t : values()) {
                if (t.name().equalsIgnoreCase(text.strip().replace('-', '_'))) {
                    return t;
                }
            }
            throw new IllegalArgumentException("must be auto, io_uring, epoll or nio, got '" + text + "'");
        }

        public String setting() {
            return name().toLowerCase(Locale.ROOT);
        }

        boolean available() {
            return switch (this) {
                case IO_URING -> IoUring.isAvailable();
                case EPOLL -> Epoll.isAvailable();
                case NIO, AUTO -> true;
            };
        }

        Throwable unavailabilityCause() {
            return switch (this) {
                case IO_URING -> IoUring.unavailabilityCause();
                case EPOLL -> Epoll.unavailabilityCause();
                case NIO, AUTO -> null;
            };
        }
    }

    /**
     * io_uring receives into a ring of buffers the kernel picks from (a provided-buffer ring, with multishot
     * receive): no receive buffer is held by each connection waiting for data, and a read that follows another
     * submits nothing new. About 9% less of the proxy's CPU per transaction with {@code -M prepared}
     * (docs/performance.md, session 7). On wherever the kernel supports it; {@code -Dmetako.proxy.bufferRing=false}
     * turns it off.
     */
    private static final boolean BUFFER_RING_WANTED = !"false".equals(System.getProperty("metako.proxy.bufferRing"));
    private static final short BUFFER_GROUP = 1;

    /** How long a new backend connection may take to be established. */
    private static final int CONNECT_TIMEOUT_MILLIS = 3000;

    private final Transport transport;
    private final EventLoopGroup group;
    /** Channels receive through the loops' provided-buffer ring. */
    private final boolean bufferRing;
    /** Every channel opened on these loops while it is open, so that {@link #close} can end them first. */
    private final ChannelGroup channels = new DefaultChannelGroup("metako-proxy", GlobalEventExecutor.INSTANCE);

    private ProxyEventLoops(Transport transport, EventLoopGroup group, boolean bufferRing) {
        this.transport = transport;
        this.group = group;
        this.bufferRing = bufferRing;
    }

    /**
     * {@code threads} event loops named {@code metako-proxy-*} (so their CPU can be told apart from
     * the rest of the JVM; daemon threads, see {@link #close}) driven by {@code wanted}; a transport
     * this kernel does not allow falls back to the next one, with a WARN saying why, so a locked-down
     * host still gets a working proxy.
     */
    public static ProxyEventLoops create(int threads, Transport wanted) {
        Transport chosen = choose(wanted);
        boolean ring = chosen == Transport.IO_URING && BUFFER_RING_WANTED && IoUring.isRegisterBufferRingSupported();
        IoHandlerFactory factory = switch (chosen) {
            case IO_URING -> ring
                    ? IoUringIoHandler.newFactory(new IoUringIoHandlerConfig().setBufferRingConfig(
                            IoUringBufferRingConfig.builder().bufferGroupId(BUFFER_GROUP).bufferRingSize((short) 1024)
                                    .batchSize(64).allocator(new IoUringAdaptiveBufferRingAllocator()).build()))
                    : IoUringIoHandler.newFactory();
            case EPOLL -> EpollIoHandler.newFactory();
            default -> NioIoHandler.newFactory();
        };
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory("metako-proxy", true), factory);
        LOG.info("proxy event loops: {} x {}{}", threads, chosen.setting(),
                ring ? " with a provided-buffer ring" : "");
        return new ProxyEventLoops(chosen, group, ring);
    }

    /** {@code threads} loops on the best transport this kernel allows. */
    public static ProxyEventLoops create(int threads) {
        return create(threads, Transport.AUTO);
    }

    static Transport choose(Transport wanted) {
        if (wanted != Transport.AUTO) {
            if (wanted.available()) {
                return wanted;
            }
            LOG.warn("proxy transport {} is not available here ({}); using the next one that is", wanted.setting(),
                    String.valueOf(wanted.unavailabilityCause()));
        }
        if (wanted == Transport.AUTO && Transport.IO_URING.available()) {
            return Transport.IO_URING;
        }
        if (wanted != Transport.NIO && Transport.EPOLL.available()) {
            return Transport.EPOLL; // AUTO without io_uring, or io_uring unavailable
        }
        return Transport.NIO;
    }

    /** Whether channels receive through a provided-buffer ring (io_uring where the kernel has them). */
    public boolean bufferRing() {
        return bufferRing;
    }

    public Transport transport() {
        return transport;
    }

    public EventLoopGroup group() {
        return group;
    }

    /**
     * Completes once every event loop has run a task submitted now: whatever a loop was doing when
     * this was called (checking the lease, then sending) has finished by then.
     */
    public java.util.concurrent.CompletableFuture<Void> barrier() {
        List<java.util.concurrent.CompletableFuture<Void>> all = new java.util.ArrayList<>();
        for (io.netty.util.concurrent.EventExecutor loop : group) {
            java.util.concurrent.CompletableFuture<Void> done = new java.util.concurrent.CompletableFuture<>();
            try {
                loop.execute(() -> done.complete(null));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                done.complete(null); // shut down: it sends nothing any more
            }
            all.add(done);
        }
        return java.util.concurrent.CompletableFuture.allOf(all.toArray(java.util.concurrent.CompletableFuture[]::new));
    }

    private Class<? extends ServerSocketChannel> serverChannel() {
        return switch (transport) {
            case IO_URING -> IoUringServerSocketChannel.class;
            case EPOLL -> EpollServerSocketChannel.class;
            default -> NioServerSocketChannel.class;
        };
    }

    Class<? extends SocketChannel> socketChannel() {
        return switch (transport) {
            case IO_URING -> IoUringSocketChannel.class;
            case EPOLL -> EpollSocketChannel.class;
            default -> NioSocketChannel.class;
        };
    }

    /**
     * Listens on {@code host:port}; each accepted connection gets its handlers from {@code init}. Accepted
     * channels read only when asked (auto-read off: backpressure is the session's business) and send
     * without Nagle delay.
     */
    public Channel listen(String host, int port, Consumer<Channel> init) throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap().group(group).channel(serverChannel())
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        channels.add(ch);
                        init.accept(ch);
                    }
                });
        if (bufferRing) {
            b.childOption(IoUringChannelOption.IO_URING_BUFFER_GROUP_ID, BUFFER_GROUP);
        }
        Channel server = b.bind(new InetSocketAddress(host, port)).sync().channel();
        channels.add(server);
        return server;
    }

    /**
     * Opens a connection to {@code host:port} on {@code loop} (a session's own loop, so its client and
     * backend channels never cross threads), with auto-read off, no Nagle delay and a 3 s connect timeout.
     */
    public ChannelFuture connect(EventLoop loop, ChannelHandler handler, String host, int port) {
        Bootstrap b = new Bootstrap().group(loop).channel(socketChannel())
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, CONNECT_TIMEOUT_MILLIS)
                .handler(handler);
        if (bufferRing) {
            b.option(IoUringChannelOption.IO_URING_BUFFER_GROUP_ID, BUFFER_GROUP);
        }
        ChannelFuture f = b.connect(host, port);
        channels.add(f.channel());
        return f;
    }

    /**
     * Closes every channel still open on these loops and waits for them (at most 3 s), then stops the
     * loops once no task has arrived for 100 ms (at most 3 s more). Channels first: an io_uring loop
     * shut down with connections open must cancel their pending operations while it is being destroyed,
     * which Netty 4.2.18 was seen to wait for forever (IoUringIoHandler.prepareToDestroy); and closing a
     * channel finishes in tasks of its loop (channelInactive, a session closing its backend connections)
     * that a loop which had ended would drop, leaving buffers those handlers release unreleased.
     */
    @Override
    public void close() {
        if (!channels.close().awaitUninterruptibly(3, TimeUnit.SECONDS)) {
            LOG.warn("{} proxy connection(s) did not close within 3 s; stopping the event loops anyway", channels.size());
        }
        if (!group.shutdownGracefully(100, 3000, TimeUnit.MILLISECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS)) {
            // daemon threads: a loop stuck in its transport's teardown neither blocks this caller nor the JVM's exit
            LOG.warn("proxy event loops ({}) did not stop within 10 s; leaving them behind", transport.setting());
        }
    }
}

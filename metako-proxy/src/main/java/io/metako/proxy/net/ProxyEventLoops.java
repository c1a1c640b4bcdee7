package io.metako.proxy.net;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
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
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
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
     * How sockets are driven. {@code AUTO} is epoll where the kernel allows it, else NIO. io_uring is
     * used only when asked for: Netty 4.2.18's io_uring loop was seen to hang for good while shutting
     * down (IoUringIoHandler.prepareToDestroy waiting in io_uring_enter), see docs/performance.md.
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

    private final Transport transport;
    private final EventLoopGroup group;

    private ProxyEventLoops(Transport transport, EventLoopGroup group) {
        this.transport = transport;
        this.group = group;
    }

    /**
     * {@code threads} event loops named {@code metako-proxy-*} (so their CPU can be told apart from
     * the rest of the JVM) driven by {@code wanted}; a transport this kernel does not allow falls back
     * to the next one, with a WARN saying why, so a locked-down host still gets a working proxy.
     */
    public static ProxyEventLoops create(int threads, Transport wanted) {
        Transport chosen = choose(wanted);
        IoHandlerFactory factory = switch (chosen) {
            case IO_URING -> IoUringIoHandler.newFactory();
            case EPOLL -> EpollIoHandler.newFactory();
            default -> NioIoHandler.newFactory();
        };
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory("metako-proxy"), factory);
        LOG.info("proxy event loops: {} x {}", threads, chosen.setting());
        return new ProxyEventLoops(chosen, group);
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
        if (wanted != Transport.NIO && Transport.EPOLL.available()) {
            return Transport.EPOLL; // AUTO, or io_uring unavailable
        }
        return Transport.NIO;
    }

    public Transport transport() {
        return transport;
    }

    public EventLoopGroup group() {
        return group;
    }

    public Class<? extends ServerSocketChannel> serverChannel() {
        return switch (transport) {
            case IO_URING -> IoUringServerSocketChannel.class;
            case EPOLL -> EpollServerSocketChannel.class;
            default -> NioServerSocketChannel.class;
        };
    }

    public Class<? extends SocketChannel> socketChannel() {
        return switch (transport) {
            case IO_URING -> IoUringSocketChannel.class;
            case EPOLL -> EpollSocketChannel.class;
            default -> NioSocketChannel.class;
        };
    }

    /**
     * Stops the loops once no task has arrived for 100 ms (at most 3 s): closing a channel finishes
     * in tasks of its loop (channelInactive, a session closing its backend connections), and a loop
     * that ended first would drop them, leaving buffers those handlers release unreleased.
     */
    @Override
    public void close() {
        group.shutdownGracefully(100, 3000, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
}

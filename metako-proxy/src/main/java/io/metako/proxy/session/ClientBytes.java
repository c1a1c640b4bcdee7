package io.metako.proxy.session;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import java.util.function.Supplier;

/**
 * Counts the PostgreSQL protocol bytes between clients and the statement router (after TLS, which goes in front
 * of it) for the router's {@link ProxyObserver}. One instance serves every client connection.
 */
@ChannelHandler.Sharable
final class ClientBytes extends ChannelDuplexHandler {
    private final Supplier<ProxyObserver> observer;

    ClientBytes(Supplier<ProxyObserver> observer) {
        this.observer = observer;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (msg instanceof ByteBuf b) {
            observer.get().clientBytes(b.readableBytes(), 0);
        }
        super.channelRead(ctx, msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        if (msg instanceof ByteBuf b) {
            observer.get().clientBytes(0, b.readableBytes());
        }
        super.write(ctx, msg, promise);
    }
}

package io.metako.proxy.protocol;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;

/**
 * The only handler of a client socket the proxy will not serve (over a connection limit): it answers a
 * FATAL ErrorResponse as soon as the socket is active, whatever the client sent first (libpq reads it even
 * after an SSLRequest), and closes it.
 */
public final class RefuseOnConnect extends ChannelInboundHandlerAdapter {
    private final String sqlState;
    private final String message;
    private final Runnable closed;

    /** {@code closed} runs when the socket is gone (to release what counted it). */
    public RefuseOnConnect(String sqlState, String message, Runnable closed) {
        this.sqlState = sqlState;
        this.message = message;
        this.closed = closed;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.writeAndFlush(BackendMessages.errorResponse(ctx.alloc(), "FATAL", sqlState, message))
                .addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closed.run();
    }
}

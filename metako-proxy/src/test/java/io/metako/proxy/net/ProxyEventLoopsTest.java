package io.metako.proxy.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.metako.proxy.net.ProxyEventLoops.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.SocketChannel;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ProxyEventLoopsTest {

    @Test
    void settingsParseAndUnknownOnesSayWhatIsAllowed() {
        assertThat(Transport.parse("io_uring")).isEqualTo(Transport.IO_URING);
        assertThat(Transport.parse(" EPOLL ")).isEqualTo(Transport.EPOLL);
        assertThat(Transport.parse("io-uring")).isEqualTo(Transport.IO_URING);
        assertThat(Transport.parse("auto")).isEqualTo(Transport.AUTO);
        assertThatThrownBy(() -> Transport.parse("kqueue")).hasMessageContaining("must be auto, io_uring, epoll or nio, got 'kqueue'");
    }

    @Test
    void autoTakesEpollWhereAvailableAndAnUnavailableChoiceFallsBack() {
        Transport auto = ProxyEventLoops.choose(Transport.AUTO);
        assertThat(auto).isEqualTo(Transport.EPOLL.available() ? Transport.EPOLL : Transport.NIO);
        if (Transport.IO_URING.available()) {
            assertThat(ProxyEventLoops.choose(Transport.IO_URING)).as("only when asked for").isEqualTo(Transport.IO_URING);
        } else {
            assertThat(ProxyEventLoops.choose(Transport.IO_URING)).isEqualTo(auto);
        }
        assertThat(ProxyEventLoops.choose(Transport.NIO)).isEqualTo(Transport.NIO);
        Transport epoll = ProxyEventLoops.choose(Transport.EPOLL);
        assertThat(epoll).isEqualTo(Transport.EPOLL.available() ? Transport.EPOLL : Transport.NIO);
    }

    /** Each transport carries bytes both ways with reads asked for explicitly, as the proxy's channels do. */
    @ParameterizedTest
    @org.junit.jupiter.api.Timeout(60) // a transport that hangs on shutdown fails here instead of stalling the build
    @EnumSource(value = Transport.class, names = {"IO_URING", "EPOLL", "NIO"})
    void eachTransportCarriesBytesWithExplicitReads(Transport transport) throws Exception {
        assumeTrue(transport.available(), transport + " is not available on this kernel");
        try (ProxyEventLoops loops = ProxyEventLoops.create(1, transport)) {
            assertThat(loops.transport()).isEqualTo(transport);
            Channel server = new ServerBootstrap().group(loops.group()).channel(loops.serverChannel())
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                                @Override
                                public void channelActive(ChannelHandlerContext ctx) {
                                    ctx.read();
                                }

                                @Override
                                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                    ctx.write(msg); // echo
                                }

                                @Override
                                public void channelReadComplete(ChannelHandlerContext ctx) {
                                    ctx.flush();
                                    ctx.read();
                                }
                            });
                        }
                    }).bind("127.0.0.1", 0).sync().channel();
            CompletableFuture<String> echoed = new CompletableFuture<>();
            StringBuilder got = new StringBuilder();
            Channel client = new Bootstrap().group(loops.group()).channel(loops.socketChannel())
                    .option(ChannelOption.AUTO_READ, false)
                    .handler(new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext ctx, Object msg) {
                            ByteBuf b = (ByteBuf) msg;
                            got.append(b.toString(StandardCharsets.US_ASCII));
                            b.release();
                            if (got.length() >= 10_000) {
                                echoed.complete(got.toString());
                            }
                        }

                        @Override
                        public void channelReadComplete(ChannelHandlerContext ctx) {
                            ctx.read();
                        }
                    }).connect((InetSocketAddress) server.localAddress()).sync().channel();
            assertThat(client).isInstanceOf(loops.socketChannel());
            client.read();
            String payload = "0123456789".repeat(1000);
            client.writeAndFlush(Unpooled.copiedBuffer(payload, StandardCharsets.US_ASCII)).sync();
            assertThat(echoed.get(10, TimeUnit.SECONDS)).isEqualTo(payload);
            client.close().sync();
            server.close().sync();
        }
    }
}

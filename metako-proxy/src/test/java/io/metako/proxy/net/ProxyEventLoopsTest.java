package io.metako.proxy.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.metako.proxy.net.ProxyEventLoops.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
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
    void autoTakesTheCheapestTransportAvailableAndAnUnavailableChoiceFallsBack() {
        Transport epoll = ProxyEventLoops.choose(Transport.EPOLL);
        assertThat(epoll).isEqualTo(Transport.EPOLL.available() ? Transport.EPOLL : Transport.NIO);
        assertThat(ProxyEventLoops.choose(Transport.AUTO)).isEqualTo(Transport.IO_URING.available() ? Transport.IO_URING : epoll);
        assertThat(ProxyEventLoops.choose(Transport.IO_URING)).isEqualTo(Transport.IO_URING.available() ? Transport.IO_URING : epoll);
        assertThat(ProxyEventLoops.choose(Transport.NIO)).isEqualTo(Transport.NIO);
    }

    /**
     * Each transport carries bytes both ways with reads asked for explicitly, as the proxy's channels do,
     * and the loops stop while both ends are still open with a read pending (what a proxy shut down under
     * load has): close() ends the connections itself instead of leaving the loop to cancel their I/O.
     */
    @ParameterizedTest
    @org.junit.jupiter.api.Timeout(60) // a transport that hangs on shutdown fails here instead of stalling the build
    @EnumSource(value = Transport.class, names = {"IO_URING", "EPOLL", "NIO"})
    void eachTransportCarriesBytesAndStopsWithConnectionsOpen(Transport transport) throws Exception {
        assumeTrue(transport.available(), transport + " is not available on this kernel");
        Channel server;
        Channel accepted;
        Channel client;
        try (ProxyEventLoops loops = ProxyEventLoops.create(1, transport)) {
            assertThat(loops.transport()).isEqualTo(transport);
            assertThat(loops.bufferRing()).as("io_uring receives through a provided-buffer ring where the kernel has them")
                    .isEqualTo(transport == Transport.IO_URING && io.netty.channel.uring.IoUring.isRegisterBufferRingSupported());
            CompletableFuture<Channel> acceptedFuture = new CompletableFuture<>();
            server = loops.listen("127.0.0.1", 0, ch -> ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelActive(ChannelHandlerContext ctx) {
                    acceptedFuture.complete(ctx.channel());
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
            }));
            CompletableFuture<String> echoed = new CompletableFuture<>();
            StringBuilder got = new StringBuilder();
            InetSocketAddress at = (InetSocketAddress) server.localAddress();
            client = loops.connect(loops.group().next(), new ChannelInboundHandlerAdapter() {
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
            }, at.getHostString(), at.getPort()).sync().channel();
            assertThat(client).isInstanceOf(loops.socketChannel());
            client.read();
            String payload = "0123456789".repeat(1000);
            client.writeAndFlush(Unpooled.copiedBuffer(payload, StandardCharsets.US_ASCII)).sync();
            assertThat(echoed.get(10, TimeUnit.SECONDS)).isEqualTo(payload);
            accepted = acceptedFuture.get(10, TimeUnit.SECONDS);
            assertThat(List.of(server, accepted, client)).allMatch(Channel::isOpen);
        }
        assertThat(List.of(server, accepted, client)).as("closed by ProxyEventLoops.close").noneMatch(Channel::isOpen);
    }
}

package io.metako.server.http;

import io.metako.server.config.HostPort;
import io.metako.server.config.HttpConfig;
import io.metako.server.config.Secret;
import io.metako.server.logging.Json;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The read-only HTTP endpoints of one instance on {@code instance.http_address}: the health checks load balancers
 * and Kubernetes call ({@link HttpChecks}), {@code /cluster} and {@code /history} as JSON. GET, HEAD and OPTIONS
 * (HAProxy's {@code option httpchk OPTIONS /primary}, as Patroni's examples have it) answer alike; nothing changes
 * the cluster over HTTP. One event loop of its own, so a slow HTTP client never delays the proxy.
 */
public final class HttpServer implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(HttpServer.class);
    /** A request is a line and headers: anything larger is refused (431 / 413), and a body is never needed. */
    private static final int MAX_HEADER_BYTES = 8192;
    private static final int MAX_CONNECTIONS = 256;
    /** One client address may not hold every connection: health checkers from elsewhere must still get in. */
    private static final int MAX_CONNECTIONS_PER_CLIENT = 32;
    private static final int IDLE_SECONDS = 30;

    /** What the endpoints read from the running instance; each call is answered on the HTTP event loop. */
    public interface Backend {
        HttpChecks.View view();

        /** The status as {@code metakoctl status -o json} prints it. */
        String clusterJson();

        /** The topology history as {@code metakoctl history -o json} prints it. */
        String historyJson();

        /** The metrics in Prometheus' text format, and its content type. */
        default Text metrics() {
            return new Text("text/plain; charset=utf-8", "");
        }

        /** Runs {@code listener} after every applied change of the replicated state, until closed. */
        default AutoCloseable onChange(Runnable listener) {
            return () -> { };
        }
    }

    /** A body and its content type. */
    public record Text(String contentType, String body) {
    }

    private final HostPort address;
    private final HttpConfig config;
    private volatile List<Secret> tokens;
    private final SslContext ssl;
    private final Backend backend;
    private final EventLoopGroup group;
    private final AtomicInteger open = new AtomicInteger();
    private final java.util.concurrent.ConcurrentHashMap<java.net.InetAddress, AtomicInteger> perClient =
            new java.util.concurrent.ConcurrentHashMap<>();
    /** Every accepted connection, closed by {@link #close}: a kept-alive one left open would hang its client. */
    private final io.netty.channel.group.ChannelGroup connections =
            new io.netty.channel.group.DefaultChannelGroup(io.netty.util.concurrent.GlobalEventExecutor.INSTANCE);
    private final java.util.Set<String> refusedHosts = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private Channel server;
    private final StatusEvents events;
    private AutoCloseable changes;
    /** The status page's files, from the jar: path -> content type and text. */
    private static final Map<String, Text> PAGE = Map.of(
            "/", page("index.html", "text/html; charset=utf-8"),
            "/status.js", page("status.js", "text/javascript; charset=utf-8"),
            "/status.css", page("status.css", "text/css; charset=utf-8"));
    /** The page loads nothing but its own files, and is never framed. */
    private static final Map<String, String> PAGE_HEADERS = Map.of(
            "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options", "nosniff", "X-Frame-Options", "DENY", "Referrer-Policy", "no-referrer");

    private static Text page(String file, String contentType) {
        try (java.io.InputStream in = HttpServer.class.getResourceAsStream("page/" + file)) {
            if (in == null) {
                throw new IllegalStateException("the status page's " + file + " is missing from the jar");
            }
            return new Text(contentType, new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * {@code tokens}: the ones accepted where {@code config} asks for a token (the read token and the admin token);
     * {@code ssl} null: plain HTTP.
     */
    public HttpServer(HostPort address, HttpConfig config, List<Secret> tokens, SslContext ssl, Backend backend,
                      String threadPrefix) {
        this.address = address;
        this.config = config;
        this.tokens = tokens.stream().filter(Secret::isPresent).toList();
        this.ssl = ssl;
        this.backend = backend;
        this.group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory(threadPrefix + "/http", true),
                NioIoHandler.newFactory());
        this.events = new StatusEvents(group.next(), backend::clusterJson, backend::historyJson);
    }

    /** The tokens accepted from now on (a reload of the instance's file). */
    public void tokens(List<Secret> tokens) {
        this.tokens = tokens.stream().filter(Secret::isPresent).toList();
    }

    /** HTTPS with {@code security.cert_file} / {@code key_file} (PEM; the key PKCS#8). */
    public static SslContext tls(java.nio.file.Path cert, java.nio.file.Path key) throws IOException {
        try {
            return tls(io.metako.server.tls.InstanceCertificate.load(cert, key));
        } catch (IOException e) {
            throw new IOException("the HTTP endpoints cannot use " + e.getMessage(), e);
        }
    }

    /** HTTPS presenting {@code certificate}, renewed by a reload from the next handshake on. */
    public static SslContext tls(io.metako.server.tls.InstanceCertificate certificate) throws IOException {
        try {
            return io.netty.handler.ssl.SslContextBuilder.forServer(certificate.keyManager()).build();
        } catch (javax.net.ssl.SSLException | IllegalArgumentException e) {
            throw new IOException("the HTTP endpoints cannot use security.cert_file / key_file: " + e.getMessage(), e);
        }
    }

    public HttpServer start() throws IOException {
        ServerBootstrap b = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        java.net.InetAddress from = ch.remoteAddress() == null ? null : ch.remoteAddress().getAddress();
                        AtomicInteger mine = from == null ? new AtomicInteger()
                                : perClient.computeIfAbsent(from, a -> new AtomicInteger());
                        if (open.incrementAndGet() > MAX_CONNECTIONS || mine.incrementAndGet() > MAX_CONNECTIONS_PER_CLIENT) {
                            open.decrementAndGet();
                            release(from, mine);
                            ch.close();
                            return;
                        }
                        ch.closeFuture().addListener(f -> {
                            open.decrementAndGet();
                            release(from, mine);
                        });
                        connections.add(ch);
                        if (ssl != null) {
                            ch.pipeline().addLast(ssl.newHandler(ch.alloc()));
                        }
                        ch.pipeline().addLast(new IdleStateHandler(0, 0, IDLE_SECONDS),
                                new HttpServerCodec(MAX_HEADER_BYTES, MAX_HEADER_BYTES, 8192),
                                new HttpObjectAggregator(MAX_HEADER_BYTES), new Handler());
                    }
                });
        try {
            server = b.bind(address.host(), address.port()).sync().channel();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while opening the HTTP endpoint on " + address, e);
        } catch (Exception e) { // the bind's checked exceptions too (sync() rethrows them unchecked-typed)
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw new IOException("cannot listen for HTTP on " + address + " (instance.http_address): " + e, e);
        }
        changes = backend.onChange(events::changed);
        LOG.info("HTTP endpoints on {}://{}:{} ({})", ssl != null ? "https" : "http", address.host(), port(),
                config.tokenAuth() ? "token asked except for " + String.join(", ", new java.util.TreeSet<>(config.open()))
                        : "no token asked");
        return this;
    }

    private void release(java.net.InetAddress from, AtomicInteger count) {
        if (count.decrementAndGet() <= 0 && from != null) {
            perClient.remove(from, count);
        }
    }

    public int port() {
        return ((java.net.InetSocketAddress) server.localAddress()).getPort();
    }

    @Override
    public void close() {
        if (changes != null) {
            try {
                changes.close();
            } catch (Exception e) {
                LOG.debug("unsubscribing from state changes: {}", e.toString());
            }
        }
        group.next().submit(events::close).awaitUninterruptibly(2, TimeUnit.SECONDS);
        if (server != null) {
            server.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        connections.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
    }

    /** The answer to one request: status, content type, body. */
    record Reply(HttpResponseStatus status, String contentType, String body, Map<String, String> headers) {
        /** {@code /events} granted: the handler starts the stream instead of answering once. */
        static final Reply STREAM = new Reply(HttpResponseStatus.OK, "text/event-stream; charset=utf-8", "", Map.of());

        private static final String JSON = "application/json; charset=utf-8";

        static Reply json(int status, String body) {
            return new Reply(HttpResponseStatus.valueOf(status), JSON, body, Map.of());
        }

        static Reply error(HttpResponseStatus status, String message) {
            return new Reply(status, JSON, Json.object().put("error", message).toString(), Map.of());
        }
    }

    /** Routes a request; package-private so the unit tier can ask it without a socket. */
    Reply reply(HttpMethod method, String uri, String authorization, String client) {
        if (!method.equals(HttpMethod.GET) && !method.equals(HttpMethod.HEAD) && !method.equals(HttpMethod.OPTIONS)) {
            return new Reply(HttpResponseStatus.METHOD_NOT_ALLOWED, Reply.JSON, Json.object()
                    .put("error", method + " is not served: these endpoints are read-only (GET, HEAD, OPTIONS)")
                    .toString(), Map.of("Allow", "GET, HEAD, OPTIONS"));
        }
        QueryStringDecoder q = new QueryStringDecoder(uri);
        String path;
        Map<String, List<String>> parameters;
        try {
            path = q.path().length() > 1 && q.path().endsWith("/") ? q.path().substring(0, q.path().length() - 1) : q.path();
            parameters = q.parameters();
        } catch (IllegalArgumentException e) {
            return Reply.error(HttpResponseStatus.BAD_REQUEST, "the request's path or query is not valid"
                    + " percent-encoding: " + io.metako.server.logging.Failures.firstLine(e));
        }
        Text file = PAGE.get(path.equals("/index.html") ? "/" : path);
        if (file != null) {
            return new Reply(HttpResponseStatus.OK, file.contentType(), file.body(), PAGE_HEADERS); // no data in it
        }
        String group = HttpChecks.PATHS.contains(path) ? "health"
                : path.equals("/cluster") || path.equals("/history") || path.equals("/events") ? "cluster"
                : path.equals("/metrics") ? "metrics" : null;
        if (group == null) {
            return Reply.error(HttpResponseStatus.NOT_FOUND, "no endpoint " + path + "; there are / (the status page), "
                    + String.join(", ", HttpChecks.PATHS) + ", /cluster, /history, /events, /metrics");
        }
        if (config.needsToken(group) && !authorized(authorization)) {
            if (client != null && refusedHosts.size() < 1024 && refusedHosts.add(client)) {
                LOG.warn("HTTP request for {} from {} refused: {} bearer token (further refusals from this host are not"
                        + " logged)", printable(path), client, authorization == null ? "no" : "a wrong");
            }
            return new Reply(HttpResponseStatus.UNAUTHORIZED, Reply.JSON, Json.object().put("error",
                    (authorization == null ? "missing" : "wrong") + " bearer token: " + path + " needs"
                            + " 'Authorization: Bearer <read_token>' (http.auth is token)").toString(),
                    Map.of("WWW-Authenticate", "Bearer realm=\"metako\""));
        }
        try {
            Optional<HttpChecks.Answer> check = HttpChecks.answer(path, parameters, backend.view());
            if (check.isPresent()) {
                return Reply.json(check.get().status(), check.get().body());
            }
            if (path.equals("/events")) {
                return method.equals(HttpMethod.GET) ? Reply.STREAM
                        : new Reply(HttpResponseStatus.OK, Reply.STREAM.contentType(), "", Map.of());
            }
            if (group.equals("metrics")) {
                Text m = backend.metrics();
                return new Reply(HttpResponseStatus.OK, m.contentType(), m.body(), Map.of());
            }
            return Reply.json(200, path.equals("/cluster") ? backend.clusterJson() : backend.historyJson());
        } catch (RuntimeException e) {
            LOG.warn("HTTP {} failed: {}", printable(path), e.toString());
            return Reply.error(HttpResponseStatus.INTERNAL_SERVER_ERROR, path + " failed on this instance: "
                    + io.metako.server.logging.Failures.firstLine(e));
        }
    }

    /** A client's text as a log line may show it: control characters (a decoded %0a) become '?'. */
    private static String printable(String s) {
        StringBuilder sb = new StringBuilder(Math.min(s.length(), 200));
        for (int i = 0; i < s.length() && i < 200; i++) {
            char c = s.charAt(i);
            sb.append(c < 0x20 || c == 0x7f ? '?' : c);
        }
        return s.length() > 200 ? sb + "..." : sb.toString();
    }

    private boolean authorized(String header) {
        // the scheme is case-insensitive (RFC 7235)
        if (header == null || header.length() < 7 || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        String presented = header.substring("Bearer ".length()).trim();
        boolean ok = false;
        for (Secret t : tokens) {
            ok |= t.matches(presented); // every token compared, in constant time each
        }
        return ok;
    }

    private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
            Reply r;
            boolean keepAlive = HttpUtil.isKeepAlive(request);
            if (!request.decoderResult().isSuccess()) {
                keepAlive = false;
                r = Reply.error(HttpResponseStatus.BAD_REQUEST, "not a valid HTTP request: "
                        + io.metako.server.logging.Failures.firstLine(request.decoderResult().cause()));
            } else {
                String client = ctx.channel().remoteAddress() instanceof java.net.InetSocketAddress a
                        ? a.getAddress().getHostAddress() : null;
                r = reply(request.method(), request.uri(), request.headers().get(HttpHeaderNames.AUTHORIZATION), client);
                if (r == Reply.STREAM) {
                    events.subscribe(ctx);
                    return;
                }
            }
            byte[] body = r.body().getBytes(StandardCharsets.UTF_8);
            boolean head = request.method().equals(HttpMethod.HEAD);
            ByteBuf content = head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(body);
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, r.status(), content);
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, r.contentType())
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length)
                    .set(HttpHeaderNames.CACHE_CONTROL, "no-store");
            r.headers().forEach((k, v) -> response.headers().set(k, v));
            if (keepAlive) {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                ctx.writeAndFlush(response);
                if (!ctx.channel().isWritable()) {
                    // a client that pipelines requests without reading the answers: read no more until it does
                    ctx.channel().config().setAutoRead(false);
                }
            } else {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
            if (ctx.channel().isWritable()) {
                ctx.channel().config().setAutoRead(true);
            }
            super.channelWritabilityChanged(ctx);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof IdleStateEvent) {
                ctx.close();
            } else {
                super.userEventTriggered(ctx, evt);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("HTTP connection from {} closed: {}", ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }
}

package io.metako.server.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoop;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * {@code /events}: the status page's live feed, as server-sent events. Each subscriber gets the status
 * ({@code event: status}, what {@code /cluster} answers) and the history ({@code event: history}) at once, then again
 * whenever they change: on every applied change of the replicated state, and at least every second (probes move
 * lag and health between changes). A subscriber too slow to take an update skips it (the next one is whole); a
 * comment every 15 s keeps idle connections open. Everything runs on the HTTP event loop.
 */
final class StatusEvents implements AutoCloseable {
    private static final long TICK_MILLIS = 1000;
    private static final long KEEPALIVE_NANOS = TimeUnit.SECONDS.toNanos(15);

    private final EventLoop loop;
    private final Supplier<String> status;
    private final Supplier<String> history;
    private final ChannelGroup subscribers = new DefaultChannelGroup("metako-events", GlobalEventExecutor.INSTANCE);
    private final AtomicBoolean pushQueued = new AtomicBoolean();
    private ScheduledFuture<?> ticker;
    private String lastStatus = "";
    private String lastHistory = "";
    private long lastWriteNanos = System.nanoTime();

    /** {@code status} and {@code history}: JSON documents, read on the event loop. */
    StatusEvents(EventLoop loop, Supplier<String> status, Supplier<String> history) {
        this.loop = loop;
        this.status = status;
        this.history = history;
    }

    /** Starts the stream on {@code ctx}'s connection: headers, then the current status and history. */
    void subscribe(ChannelHandlerContext ctx) {
        HttpResponse response = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .set(HttpHeaderNames.CACHE_CONTROL, "no-store").set("X-Accel-Buffering", "no");
        HttpUtil.setTransferEncodingChunked(response, true);
        ctx.write(response);
        String s = line(status.get());
        String h = line(history.get());
        ctx.writeAndFlush(new DefaultHttpContent(text("retry: 2000\n\n" + event("status", s) + event("history", h))));
        subscribers.add(ctx.channel());
        if (ticker == null) {
            ticker = loop.scheduleWithFixedDelay(this::push, TICK_MILLIS, TICK_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    /** The replicated state changed: push soon, once, however many changes arrive meanwhile. */
    void changed() {
        if (!subscribers.isEmpty() && pushQueued.compareAndSet(false, true)) {
            loop.execute(() -> {
                pushQueued.set(false);
                push();
            });
        }
    }

    int subscribers() {
        return subscribers.size();
    }

    private void push() {
        if (subscribers.isEmpty()) {
            return;
        }
        String s = line(status.get());
        String h = line(history.get());
        StringBuilder out = new StringBuilder();
        if (!s.equals(lastStatus)) {
            out.append(event("status", s));
        }
        if (!h.equals(lastHistory)) {
            out.append(event("history", h));
        }
        long now = System.nanoTime();
        if (out.isEmpty() && now - lastWriteNanos < KEEPALIVE_NANOS) {
            return;
        }
        lastStatus = s;
        lastHistory = h;
        lastWriteNanos = now;
        ByteBuf bytes = text(out.isEmpty() ? ": keep-alive\n\n" : out.toString());
        try {
            for (Channel c : subscribers) {
                if (c.isWritable()) {
                    c.writeAndFlush(new DefaultHttpContent(bytes.retainedDuplicate()));
                }
            }
        } finally {
            bytes.release();
        }
    }

    /** A JSON document on one line: JSON strings never hold a raw line break, so dropping them changes nothing. */
    private static String line(String json) {
        return json.replace("\n", "").replace("\r", "");
    }

    private static String event(String type, String data) {
        return "event: " + type + "\ndata: " + data + "\n\n";
    }

    private static ByteBuf text(String s) {
        return Unpooled.wrappedBuffer(s.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void close() {
        if (ticker != null) {
            ticker.cancel(false);
        }
        subscribers.close();
    }
}

package io.metako.server.logging;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.LayoutBase;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Map;

/**
 * One JSON object per log line, with the keys the Go pg-metako used ({@code time}, {@code level},
 * {@code msg}) plus {@code logger}, {@code thread}, the process's context on every line whatever thread logs it
 * ({@code instance}, {@code epoch}, {@code term}: {@link #context}), the MDC, the event's key-value pairs (numbers,
 * booleans and {@link Json} objects written as such, the rest as strings) and {@code error}.
 */
public final class JsonLineLayout extends LayoutBase<ILoggingEvent> {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ISO_OFFSET_DATE_TIME.withZone(ZoneId.systemDefault());
    private static volatile java.util.function.Supplier<Map<String, String>> context = Map::of;

    /** What every line of this process carries (one instance per process): its id, epoch and term. */
    public static void context(java.util.function.Supplier<Map<String, String>> supplier) {
        context = supplier;
    }

    @Override
    public String doLayout(ILoggingEvent event) {
        StringBuilder sb = new StringBuilder(256).append('{');
        field(sb, "time", TIME.format(Instant.ofEpochMilli(event.getTimeStamp())));
        sb.append(',');
        field(sb, "level", event.getLevel().toString());
        sb.append(',');
        field(sb, "msg", event.getFormattedMessage());
        sb.append(',');
        field(sb, "logger", event.getLoggerName());
        sb.append(',');
        field(sb, "thread", event.getThreadName());
        java.util.Set<String> written = new java.util.HashSet<>(java.util.List.of("time", "level", "msg", "logger",
                "thread", "error"));
        Map<String, String> ctx;
        try {
            ctx = context.get();
        } catch (RuntimeException e) {
            ctx = Map.of(); // a log line never fails for want of its context
        }
        for (Map.Entry<String, String> e : ctx.entrySet()) {
            if (written.add(e.getKey())) {
                sb.append(',');
                field(sb, e.getKey(), e.getValue());
            }
        }
        for (Map.Entry<String, String> e : event.getMDCPropertyMap().entrySet()) {
            if (written.add(e.getKey())) {
                sb.append(',');
                field(sb, e.getKey(), e.getValue());
            }
        }
        if (event.getKeyValuePairs() != null) {
            for (org.slf4j.event.KeyValuePair kv : event.getKeyValuePairs()) {
                if (kv.key != null && written.add(kv.key)) {
                    sb.append(',');
                    quote(sb, kv.key);
                    sb.append(':');
                    value(sb, kv.value);
                }
            }
        }
        if (event.getThrowableProxy() != null) {
            sb.append(',');
            field(sb, "error", ThrowableProxyUtil.asString(event.getThrowableProxy()));
        }
        return sb.append('}').append(System.lineSeparator()).toString();
    }

    private static void value(StringBuilder sb, Object v) {
        if (v instanceof Json || v instanceof Boolean || v instanceof Number n && Double.isFinite(n.doubleValue())) {
            sb.append(v);
        } else {
            quote(sb, v == null ? "" : v.toString());
        }
    }

    private static void field(StringBuilder sb, String key, String value) {
        quote(sb, key);
        sb.append(':');
        quote(sb, value == null ? "" : value);
    }

    static void quote(StringBuilder sb, String s) {
        Json.quote(sb, s);
    }
}

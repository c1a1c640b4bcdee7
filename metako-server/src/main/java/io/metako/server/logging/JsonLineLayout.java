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
 * {@code msg}) plus {@code logger}, {@code thread}, the MDC (instance, epoch, term) and {@code error}.
 */
public final class JsonLineLayout extends LayoutBase<ILoggingEvent> {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ISO_OFFSET_DATE_TIME.withZone(ZoneId.systemDefault());

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
        for (Map.Entry<String, String> e : event.getMDCPropertyMap().entrySet()) {
            sb.append(',');
            field(sb, e.getKey(), e.getValue());
        }
        if (event.getThrowableProxy() != null) {
            sb.append(',');
            field(sb, "error", ThrowableProxyUtil.asString(event.getThrowableProxy()));
        }
        return sb.append('}').append(System.lineSeparator()).toString();
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

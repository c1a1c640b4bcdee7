package io.metako.server.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.LoggingEvent;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class JsonLineLayoutTest {
    private final Logger logger = (Logger) org.slf4j.LoggerFactory.getLogger("io.metako.test");

    @AfterEach
    void noContext() {
        JsonLineLayout.context(Map::of);
    }

    private static Struct parse(String line) throws Exception {
        assertThat(line).endsWith(System.lineSeparator()).doesNotContain("\n{");
        Struct.Builder b = Struct.newBuilder();
        JsonFormat.parser().merge(line, b);
        return b.build();
    }

    @Test
    void everyLineCarriesTheProcessContextAndTheEventsKeyValues() throws Exception {
        JsonLineLayout.context(() -> Map.of("instance", "metako-2", "epoch", "7", "term", "3"));
        LoggingEvent e = new LoggingEvent("x", logger, Level.INFO, "status \"quoted\"\nsecond line", null, null);
        e.addKeyValuePair(new org.slf4j.event.KeyValuePair("primary", "pg-2"));
        e.addKeyValuePair(new org.slf4j.event.KeyValuePair("queries", 12L));
        e.addKeyValuePair(new org.slf4j.event.KeyValuePair("healthy", true));
        e.addKeyValuePair(new org.slf4j.event.KeyValuePair("lag", Double.NaN));
        e.addKeyValuePair(new org.slf4j.event.KeyValuePair("nodes", Json.object().put("pg-1", "down")));
        e.addKeyValuePair(new org.slf4j.event.KeyValuePair("instance", "not me")); // the context's wins
        Struct s = parse(new JsonLineLayout().doLayout(e));
        assertThat(s.getFieldsOrThrow("msg").getStringValue()).isEqualTo("status \"quoted\"\nsecond line");
        assertThat(s.getFieldsOrThrow("instance").getStringValue()).isEqualTo("metako-2");
        assertThat(s.getFieldsOrThrow("epoch").getStringValue()).isEqualTo("7");
        assertThat(s.getFieldsOrThrow("primary").getStringValue()).isEqualTo("pg-2");
        assertThat(s.getFieldsOrThrow("queries").getNumberValue()).isEqualTo(12);
        assertThat(s.getFieldsOrThrow("healthy").getBoolValue()).isTrue();
        assertThat(s.getFieldsOrThrow("lag").getStringValue()).isEqualTo("NaN");
        assertThat(s.getFieldsOrThrow("nodes").getStructValue().getFieldsOrThrow("pg-1").getStringValue()).isEqualTo("down");
    }

    @Test
    void aFailingContextDoesNotLoseTheLine() throws Exception {
        JsonLineLayout.context(() -> {
            throw new IllegalStateException("not started");
        });
        LoggingEvent e = new LoggingEvent("x", logger, Level.WARN, "still written", null, null);
        assertThat(parse(new JsonLineLayout().doLayout(e)).getFieldsOrThrow("level").getStringValue()).isEqualTo("WARN");
    }
}

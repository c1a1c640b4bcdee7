package io.metako.server.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class UnitsTest {
    @Test
    void durations() {
        assertThat(Units.parseDuration("250ms")).isEqualTo(Duration.ofMillis(250));
        assertThat(Units.parseDuration("1.5s")).isEqualTo(Duration.ofMillis(1500));
        assertThat(Units.parseDuration("2m")).isEqualTo(Duration.ofMinutes(2));
        assertThat(Units.parseDuration("1h")).isEqualTo(Duration.ofHours(1));
        assertThat(Units.parseDuration("5")).isNull();
        assertThat(Units.parseDuration("5 sec")).isNull();
        assertThat(Units.formatDuration(Duration.ofMillis(1500))).isEqualTo("1500ms");
        assertThat(Units.formatDuration(Duration.ofSeconds(30))).isEqualTo("30s");
    }

    @Test
    void sizes() {
        assertThat(Units.parseSize("16MB")).isEqualTo(16L << 20);
        assertThat(Units.parseSize("512kB")).isEqualTo(512L << 10);
        assertThat(Units.parseSize("1gb")).isEqualTo(1L << 30);
        assertThat(Units.parseSize("4096")).isEqualTo(4096L);
        assertThat(Units.parseSize("lots")).isNull();
        assertThat(Units.parseSize("99999999999999999999")).as("beyond a long").isNull();
        assertThat(Units.parseSize("9999999999TB")).as("beyond a long once scaled").isNull();
        assertThat(Units.parseSize("8388607TB")).isEqualTo(8388607L << 40);
        assertThat(Units.formatSize(16L << 20)).isEqualTo("16MB");
    }

    @Test
    void suggestionsFindNearKeysOnly() {
        assertThat(Suggest.nearest("helth_check", java.util.List.of("health_check", "nodes"))).isEqualTo("health_check");
        assertThat(Suggest.nearest("zzz", java.util.List.of("health_check", "nodes"))).isNull();
    }
}

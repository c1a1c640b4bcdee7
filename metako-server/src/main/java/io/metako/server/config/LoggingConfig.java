package io.metako.server.config;

import java.time.Duration;

/**
 * {@code logging}: {@code status_interval}, how often the instance writes its status report (one log line with the
 * primary, the epoch, each node's health and lag, the proxy's counts); zero turns it off. {@code level}: the lowest
 * level written (error, warn, info, debug, trace), changed by a reload without a restart.
 */
public record LoggingConfig(Duration statusInterval, String level) {
    public static final java.util.List<String> LEVELS = java.util.List.of("error", "warn", "info", "debug", "trace");
    /** Level "": as the logging configuration has it (INFO with the packaged logback.xml). */
    public static final LoggingConfig DEFAULT = new LoggingConfig(Duration.ofSeconds(60), "");
}

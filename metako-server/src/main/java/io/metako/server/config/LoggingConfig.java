package io.metako.server.config;

import java.time.Duration;

/**
 * {@code logging}: {@code status_interval}, how often the instance writes its status report (one log line with the
 * primary, the epoch, each node's health and lag, the proxy's counts); zero turns it off.
 */
public record LoggingConfig(Duration statusInterval) {
    public static final LoggingConfig DEFAULT = new LoggingConfig(Duration.ofSeconds(60));
}

package io.metako.server.config;

import java.time.Duration;

/** How every instance probes every node, and when a verdict flips. */
public record HealthCheckConfig(
        Duration interval,
        Duration timeout,
        int failureThreshold,
        int recoveryThreshold) {

    public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(1);
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(1);
    public static final int DEFAULT_FAILURE_THRESHOLD = 3;
    public static final int DEFAULT_RECOVERY_THRESHOLD = 2;
}

package io.metako.server.config;

import java.time.Duration;

/** Failover policy: how much loss is acceptable, how often, and the write lease. */
public record FailoverConfig(long maximumLagOnFailoverBytes, Duration cooldown, Duration lease) {
    public static final long DEFAULT_MAXIMUM_LAG_BYTES = 16L << 20;
    public static final Duration DEFAULT_COOLDOWN = Duration.ofSeconds(30);
    public static final Duration DEFAULT_LEASE = Duration.ofSeconds(2);
}

package io.metako.proxy.session;

/**
 * How long a client's statement may run on its node before the router cancels it there: {@code readMillis} for
 * reads, {@code writeMillis} for writes ({@code load_balancer.read_timeout} / {@code write_timeout}, replicated);
 * 0 is no limit. BEGIN, COMMIT and session settings are never limited.
 */
public record StatementLimits(long readMillis, long writeMillis) {
    public static final StatementLimits NONE = new StatementLimits(0, 0);
}

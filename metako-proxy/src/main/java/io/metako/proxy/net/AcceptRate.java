package io.metako.proxy.net;

import java.util.function.LongSupplier;

/**
 * A cap on new connections per second for one port ({@code proxy.max_new_connections_per_second}): a token bucket
 * that holds one second's worth, so a burst of that size passes and a sustained flood is held to the rate. A
 * socket over the cap is refused at once, before the proxy dials a node for it.
 */
public final class AcceptRate {
    private final int perSecond;
    private final LongSupplier nanoTime;
    private double tokens;
    private long last;

    /** {@code perSecond} 0: no cap. */
    public AcceptRate(int perSecond) {
        this(perSecond, System::nanoTime);
    }

    AcceptRate(int perSecond, LongSupplier nanoTime) {
        if (perSecond < 0) {
            throw new IllegalArgumentException("a connection rate cannot be negative, got " + perSecond);
        }
        this.perSecond = perSecond;
        this.nanoTime = nanoTime;
        this.tokens = perSecond;
        this.last = nanoTime.getAsLong();
    }

    /** Whether one more connection may come in now (and counts it). */
    public synchronized boolean tryAccept() {
        if (perSecond == 0) {
            return true;
        }
        long now = nanoTime.getAsLong();
        tokens = Math.min(perSecond, tokens + (now - last) / 1e9 * perSecond);
        last = now;
        if (tokens < 1) {
            return false;
        }
        tokens -= 1;
        return true;
    }

    public int perSecond() {
        return perSecond;
    }
}

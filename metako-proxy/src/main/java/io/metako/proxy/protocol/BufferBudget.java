package io.metako.proxy.protocol;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The bytes one proxy may hold, across all its sessions, for client messages that have not fully arrived
 * ({@code proxy.max_buffered_bytes}). Each session's limit ({@code max_message_size}) bounds one message; this
 * bounds their sum, so many clients that each declare a large message and send it slowly cannot exhaust the
 * instance's memory together. A message that does not fit is refused with 53200 (out of memory), as PostgreSQL
 * refuses an allocation it cannot make; the sessions already holding their bytes go on.
 */
public final class BufferBudget {
    private final long limit;
    private final AtomicLong used = new AtomicLong();

    public BufferBudget(long limit) {
        if (limit <= 0) {
            throw new IllegalArgumentException("a buffer budget must be positive, got " + limit);
        }
        this.limit = limit;
    }

    /** No limit but each session's own (tests, and proxies that buffer nothing). */
    public static BufferBudget unlimited() {
        return new BufferBudget(Long.MAX_VALUE);
    }

    /** Takes {@code bytes} from the budget; false, and nothing taken, when they do not fit. */
    public boolean reserve(long bytes) {
        while (true) {
            long u = used.get();
            if (bytes > limit - u) {
                return false;
            }
            if (used.compareAndSet(u, u + bytes)) {
                return true;
            }
        }
    }

    /** Gives back {@code bytes} taken by {@link #reserve}. */
    public void release(long bytes) {
        used.addAndGet(-bytes);
    }

    /** Bytes reserved now. */
    public long used() {
        return used.get();
    }

    public long limit() {
        return limit;
    }
}

package io.metako.server.routing;

import io.metako.proxy.routing.WriteLease;
import io.metako.server.DaemonThreads;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps this instance's {@link WriteLease}, as ARCHITECTURE section 5 defines it:
 * <ul>
 *   <li>renewed by a ReadIndex round trip ({@link io.metako.server.state.RaftNode#confirmEpoch}) every quarter lease; the
 *       deadline counts from when the request was <em>sent</em>, and covers the epoch this peer had
 *       applied once the leader's commit index was reached. Votes, pre-votes and heartbeats received
 *       renew nothing;</li>
 *   <li>moved to a new epoch, expired, the moment one is applied ({@link #enterEpoch});</li>
 *   <li>dropped by a watchdog when this process was not scheduled for longer than a margin (a GC
 *       pause, SIGSTOP): the instance writes again only after a fresh round trip.</li>
 * </ul>
 * The leader goes on without an instance's acknowledgement only after lease + {@link #marginMillis}
 * since it saw the failover begin, so by then any lease granted before that has run out.
 */
public final class LeaseKeeper implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LeaseKeeper.class);
    private static final long TICK_MILLIS = 50;

    private final WriteLease lease = WriteLease.create();
    /** One ReadIndex round trip to the leader: the epoch this peer had applied once the leader's commit index was reached. */
    private final java.util.function.Supplier<CompletableFuture<Long>> roundTrip;
    private final LongSupplier leaseMillis;
    private final ScheduledExecutorService timer;
    /**
     * Round trips sent and not yet answered. A new one goes out every quarter lease even while earlier ones wait
     * (up to {@link #MAX_IN_FLIGHT}): one sent to a leader that has just stepped down may go unanswered until its
     * timeout, longer than a short lease, while the next, sent once a new leader is elected, is answered at once.
     */
    private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
    private static final int MAX_IN_FLIGHT = 4;

    private volatile long lastTick = System.nanoTime();
    private volatile long lastSent;
    private volatile boolean failing;
    private final java.util.function.BooleanSupplier voter;
    private volatile boolean outOfGroup;

    /**
     * {@code roundTrip}: a ReadIndex round trip ({@code RaftNode::confirmEpoch}). {@code voter}: whether this instance
     * votes in the Raft configuration now. One that does not (removed, or joining and not yet added) holds no lease:
     * it is dropped at the next tick and never renewed.
     */
    public LeaseKeeper(java.util.function.Supplier<CompletableFuture<Long>> roundTrip, LongSupplier leaseMillis, String instanceId,
                       java.util.function.BooleanSupplier voter) {
        this.voter = voter;
        this.roundTrip = roundTrip;
        this.leaseMillis = leaseMillis;
        this.timer = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named(instanceId + "/lease"));
    }

    /** The pause the watchdog tolerates, and the leader's margin on top of the lease: a quarter lease, at least 500 ms. */
    public static long marginMillis(long leaseMillis) {
        return Math.max(500, leaseMillis / 4);
    }

    public WriteLease lease() {
        return lease;
    }

    public void start() {
        timer.scheduleWithFixedDelay(this::tick, 0, TICK_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** The Raft configuration changed: a lease of an instance that no longer votes ends now, not at the next tick. */
    public void membershipChanged() {
        if (!voter.getAsBoolean()) {
            drop();
        }
    }

    private void drop() {
        lease.drop(); // a round trip sent before this renews nothing (WriteLease)
    }

    /** The instance applied {@code epoch} (called on the apply thread, before anything else hears of it). */
    public void enterEpoch(long epoch) {
        lease.enterEpoch(epoch);
    }

    /**
     * A tick must never throw: the scheduler would cancel every later one without a word, and this instance would
     * never write again (its lease expired for good).
     */
    private void tick() {
        try {
            renewIfDue();
        } catch (RuntimeException e) {
            LOG.warn("lease tick failed; the next one retries: {}", e.toString());
        }
    }

    private void renewIfDue() {
        long now = System.nanoTime();
        long leaseNanos = TimeUnit.MILLISECONDS.toNanos(leaseMillis.getAsLong());
        long gap = now - lastTick;
        lastTick = now;
        if (gap > TimeUnit.MILLISECONDS.toNanos(marginMillis(leaseNanos / 1_000_000) + TICK_MILLIS)) {
            drop();
            LOG.warn("this process was not scheduled for {} ms: write lease dropped until the next round trip to the leader",
                    gap / 1_000_000);
        }
        if (!voter.getAsBoolean()) {
            drop();
            if (!outOfGroup) {
                outOfGroup = true;
                LOG.warn("this instance does not vote in the Raft configuration: no write lease, no writes through it");
            }
            return;
        }
        outOfGroup = false;
        if (now - lastSent < leaseNanos / 4 || inFlight.get() >= MAX_IN_FLIGHT) {
            return;
        }
        long sent = System.nanoTime();
        lastSent = sent;
        CompletableFuture<Long> answer;
        try {
            answer = roundTrip.get();
        } catch (RuntimeException e) {
            answer = CompletableFuture.failedFuture(e); // a client closed under it, say: counts as a failed round trip
        }
        inFlight.incrementAndGet();
        answer.whenComplete((epoch, e) -> {
            inFlight.decrementAndGet();
            if (e == null && !voter.getAsBoolean()) {
                return; // out of the configuration now: it renews nothing (a drop since it was sent also holds)
            } else if (e == null) {
                lease.renew(epoch, sent, leaseNanos);
                if (failing) {
                    failing = false;
                    LOG.info("lease round trips to the leader answered again (epoch {})", epoch);
                }
            } else if (!failing) {
                failing = true; // once per outage, not every quarter lease
                LOG.info("lease round trip to the leader failed; no writes through this instance until one succeeds: {}",
                        rootCause(e));
            }
        });
    }

    private static String rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.toString();
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}

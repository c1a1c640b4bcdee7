package io.metako.server.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** The keeper's schedule with round trips that fail in every way a Raft client can fail (a pure unit tier). */
class LeaseKeeperTest {
    private static final long LEASE_MILLIS = 400;

    /** Waits up to 5 s for the lease to be valid for {@code epoch}. */
    private static boolean becomesValid(LeaseKeeper k, long epoch) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            if (k.lease().validFor(epoch)) {
                return true;
            }
            Thread.sleep(20);
        }
        return false;
    }

    @Test
    void aRoundTripThatThrowsInsteadOfFailingItsFutureDoesNotStopRenewal() throws Exception {
        // a client closed under the keeper by a concurrent replacement may throw at once; the scheduler would then
        // cancel every later tick and the instance would never hold a lease again
        AtomicInteger calls = new AtomicInteger();
        Supplier<CompletableFuture<Long>> roundTrip = () -> {
            if (calls.incrementAndGet() <= 2) {
                throw new IllegalStateException("client closed");
            }
            return CompletableFuture.completedFuture(3L);
        };
        try (LeaseKeeper k = new LeaseKeeper(roundTrip, () -> LEASE_MILLIS, "m1", () -> true)) {
            k.start();
            assertThat(becomesValid(k, 3)).as("lease after two round trips threw, calls: " + calls.get()).isTrue();
            assertThat(calls.get()).isGreaterThan(2);
        }
    }

    @Test
    void roundTripsThatNeverAnswerHoldNoLeaseAndTheNextAnsweredOneGrantsIt() throws Exception {
        // up to four wait at once (unanswered ones end by their own timeout in RaftNode); answers start later
        AtomicBoolean answering = new AtomicBoolean();
        AtomicInteger calls = new AtomicInteger();
        Supplier<CompletableFuture<Long>> roundTrip = () -> {
            calls.incrementAndGet();
            return answering.get() ? CompletableFuture.completedFuture(5L) : new CompletableFuture<>();
        };
        try (LeaseKeeper k = new LeaseKeeper(roundTrip, () -> LEASE_MILLIS, "m1", () -> true)) {
            k.start();
            Thread.sleep(3 * LEASE_MILLIS);
            assertThat(k.lease().validFor(5)).isFalse();
            assertThat(calls.get()).as("round trips in flight at once").isEqualTo(4);
        }
    }

    @Test
    void anInstanceOutsideTheConfigurationHoldsNoLeaseThoughTheLeaderAnswers() throws Exception {
        AtomicBoolean voter = new AtomicBoolean(false);
        try (LeaseKeeper k = new LeaseKeeper(() -> CompletableFuture.completedFuture(2L), () -> LEASE_MILLIS, "m1", voter::get)) {
            k.start();
            Thread.sleep(LEASE_MILLIS);
            assertThat(k.lease().validFor(2)).isFalse();
            voter.set(true);
            assertThat(becomesValid(k, 2)).as("lease once it votes").isTrue();
            voter.set(false);
            k.membershipChanged();
            assertThat(k.lease().validFor(2)).as("dropped the moment it stops voting").isFalse();
        }
    }
}

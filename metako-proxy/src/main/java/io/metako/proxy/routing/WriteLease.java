package io.metako.proxy.routing;

/**
 * This instance's write lease as a deadline on the monotonic clock, for one epoch. The server
 * renews it after each round trip the Raft leader answered (the deadline counts from when that
 * request was sent) and moves it to a new epoch, expired, the moment it applies one. The proxy
 * asks {@link #validFor} for every unit it sends to the primary, so neither a stalled control
 * thread nor a routing table that is no longer current can let a write through after the
 * deadline.
 */
public final class WriteLease {
    private static final WriteLease ALWAYS = new WriteLease(true);

    /** A grant: writes of {@code epoch} may go out until {@code untilNanos} ({@link System#nanoTime()}). */
    private record Grant(long epoch, long untilNanos) {
    }

    private final boolean always;
    private volatile Grant grant = new Grant(-1, System.nanoTime());
    /** When the lease was last dropped (System.nanoTime()): a round trip sent before then grants nothing. */
    private long droppedNanos = System.nanoTime();

    private WriteLease(boolean always) {
        this.always = always;
    }

    /** A lease that has not been granted yet. */
    public static WriteLease create() {
        return new WriteLease(false);
    }

    /** A lease that never lapses, for tables whose writability is fixed (unit tests of the proxy). */
    public static WriteLease always() {
        return ALWAYS;
    }

    /** Whether writes routed by a table of {@code epoch} may go out now. */
    public boolean validFor(long epoch) {
        if (always) {
            return true;
        }
        Grant g = grant;
        return g.epoch == epoch && System.nanoTime() - g.untilNanos < 0;
    }

    /** Milliseconds left for {@code epoch}, 0 when not valid. */
    public long remainingMillis(long epoch) {
        Grant g = grant;
        long left = g.untilNanos - System.nanoTime();
        return always ? Long.MAX_VALUE : g.epoch == epoch && left > 0 ? left / 1_000_000 : 0;
    }

    /** The instance applied {@code epoch}: every lease for an earlier one ends now. */
    public synchronized void enterEpoch(long epoch) {
        if (epoch > grant.epoch) {
            grant = new Grant(epoch, System.nanoTime());
        }
    }

    /**
     * A round trip sent at {@code sentNanos} was answered, and the state applied by then was at
     * {@code epoch}: writes of that epoch may go out until {@code sentNanos + leaseNanos}. A grant for
     * an epoch older than one already entered is ignored, and so is a round trip sent before the last
     * {@link #drop}: a drop holds until a round trip sent after it is answered.
     */
    public synchronized void renew(long epoch, long sentNanos, long leaseNanos) {
        if (sentNanos - droppedNanos < 0) {
            return;
        }
        Grant g = grant;
        long until = sentNanos + leaseNanos;
        if (epoch > g.epoch || epoch == g.epoch && until - g.untilNanos > 0) {
            grant = new Grant(epoch, until);
        }
    }

    /** Ends the current grant now (a process pause, leadership lost). */
    public synchronized void drop() {
        droppedNanos = System.nanoTime();
        grant = new Grant(grant.epoch, Math.min(grant.untilNanos, System.nanoTime()));
    }

    @Override
    public String toString() {
        return always ? "WriteLease[always]" : "WriteLease[epoch " + grant.epoch + ", " + remainingMillis(grant.epoch) + " ms left]";
    }
}

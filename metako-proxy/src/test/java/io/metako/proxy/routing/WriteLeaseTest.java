package io.metako.proxy.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class WriteLeaseTest {
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

    @Test
    void aGrantCoversOneEpochUntilItsDeadline() {
        WriteLease lease = WriteLease.create();
        assertThat(lease.validFor(0)).as("nothing granted yet").isFalse();
        lease.renew(3, System.nanoTime(), 10 * SECOND);
        assertThat(lease.validFor(3)).isTrue();
        assertThat(lease.validFor(2)).as("another epoch").isFalse();
        lease.renew(3, System.nanoTime() - 20 * SECOND, 10 * SECOND);
        assertThat(lease.validFor(3)).as("an older round trip does not shorten it").isTrue();
        lease.renew(4, System.nanoTime() - 20 * SECOND, 10 * SECOND);
        assertThat(lease.validFor(4)).as("a round trip sent more than a lease ago grants nothing").isFalse();
    }

    @Test
    void aDropHoldsUntilARoundTripSentAfterItIsAnswered() throws InterruptedException {
        WriteLease lease = WriteLease.create();
        long before = System.nanoTime();
        lease.renew(5, before, 10 * SECOND);
        Thread.sleep(2);
        lease.drop(); // a process pause, or this instance left the Raft group
        assertThat(lease.validFor(5)).isFalse();
        lease.renew(5, before, 10 * SECOND); // sent before the drop, answered after it
        assertThat(lease.validFor(5)).as("a round trip sent before the drop").isFalse();
        Thread.sleep(2);
        lease.renew(5, System.nanoTime(), 10 * SECOND);
        assertThat(lease.validFor(5)).as("one sent after it").isTrue();
    }

    @Test
    void enteringAnEpochEndsTheOldOneAndALateGrantForItIsIgnored() {
        WriteLease lease = WriteLease.create();
        lease.renew(1, System.nanoTime(), 10 * SECOND);
        lease.enterEpoch(2);
        assertThat(lease.validFor(1)).isFalse();
        assertThat(lease.validFor(2)).as("the new epoch needs a round trip of its own").isFalse();
        lease.renew(1, System.nanoTime(), 10 * SECOND); // answered before epoch 2 was applied, arriving after
        assertThat(lease.validFor(1)).isFalse();
        lease.renew(2, System.nanoTime(), 10 * SECOND);
        assertThat(lease.validFor(2)).isTrue();
        lease.drop();
        assertThat(lease.validFor(2)).isFalse();
    }

    @Test
    void aTableThatOutlivesItsLeaseTakesNoWrites() {
        WriteLease lease = WriteLease.create();
        lease.renew(5, System.nanoTime(), 10 * SECOND);
        RoutingTable.Backend a = new RoutingTable.Backend("A", "127.0.0.1", 5432);
        RoutingTable t = new RoutingTable(5, Optional.of(a), List.of(), true, lease);
        assertThat(t.acceptsWrites()).isTrue();
        assertThat(t.primaryNow(a)).isTrue();
        lease.enterEpoch(6);
        assertThat(t.writable()).as("as published").isTrue();
        assertThat(t.acceptsWrites()).isFalse();
        assertThat(t.primaryNow(a)).isFalse();
        assertThat(t.writableNow()).isFalse();
    }
}

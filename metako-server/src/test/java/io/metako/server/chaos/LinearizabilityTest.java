package io.metako.server.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.server.chaos.Linearizability.Call;
import io.metako.server.chaos.Linearizability.Kind;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LinearizabilityTest {
    private static Call read(long value, long start, long end) {
        return new Call(Kind.READ, 0, value, start, end, "read " + value + " [" + start + "," + end + "]");
    }

    private static Call cas(long expected, long value, long start, long end) {
        return new Call(Kind.CAS_OK, expected, value, start, end, "cas " + expected + "->" + value + " [" + start + "," + end + "]");
    }

    private static Call missed(long expected, long start, long end) {
        return new Call(Kind.CAS_MISSED, expected, 0, start, end, "missed " + expected + " [" + start + "," + end + "]");
    }

    private static Call unknown(long expected, long value, long start) {
        return new Call(Kind.CAS_UNKNOWN, expected, value, start, 0, "unknown " + expected + "->" + value);
    }

    @Test
    void aSequentialHistoryIsLinearizable() {
        var r = Linearizability.check(List.of(read(0, 1, 2), cas(0, 5, 3, 4), read(5, 5, 6), missed(0, 7, 8), cas(5, 6, 9, 10)), 0);
        assertThat(r.linearizable()).as(r.explanation()).isTrue();
        assertThat(r.decided()).isTrue();
    }

    @Test
    void aReadOfTheOldValueAfterACompletedWriteIsNot() {
        var r = Linearizability.check(List.of(cas(0, 5, 1, 2), read(0, 3, 4)), 0);
        assertThat(r.linearizable()).isFalse();
        assertThat(r.decided()).isTrue();
        assertThat(r.explanation()).contains("read 0 [3,4]");
    }

    @Test
    void aReadConcurrentWithAWriteMaySeeEitherValue() {
        assertThat(Linearizability.check(List.of(cas(0, 5, 1, 10), read(0, 2, 3)), 0).linearizable()).isTrue();
        assertThat(Linearizability.check(List.of(cas(0, 5, 1, 10), read(5, 2, 3)), 0).linearizable()).isTrue();
        // but not both in this order: once a read saw 5, a later read cannot see 0
        assertThat(Linearizability.check(List.of(cas(0, 5, 1, 10), read(5, 2, 3), read(0, 4, 5)), 0).linearizable()).isFalse();
    }

    @Test
    void anOperationWithAnUnknownOutcomeMayOrMayNotHaveHappened() {
        assertThat(Linearizability.check(List.of(unknown(0, 7, 1), read(7, 50, 60)), 0).linearizable()).isTrue();
        assertThat(Linearizability.check(List.of(unknown(0, 7, 1), read(0, 50, 60)), 0).linearizable()).isTrue();
        // it cannot have happened before it was sent
        assertThat(Linearizability.check(List.of(read(7, 1, 2), unknown(0, 7, 3)), 0).linearizable()).isFalse();
        // nor twice: once seen and then overwritten, it cannot come back
        assertThat(Linearizability.check(List.of(unknown(0, 7, 1), read(7, 5, 6), cas(7, 8, 7, 8), read(7, 9, 10)), 0)
                .linearizable()).isFalse();
    }

    @Test
    void twoAcknowledgedSwapsFromTheSameValueAreASplitBrain() {
        var r = Linearizability.check(List.of(cas(0, 1, 1, 2), cas(0, 2, 3, 4)), 0);
        assertThat(r.linearizable()).isFalse();
        assertThat(r.explanation()).contains("cas 0->2");
    }

    @Test
    void aMissedSwapNeedsAnotherValueThere() {
        assertThat(Linearizability.check(List.of(missed(0, 1, 2)), 0).linearizable()).isFalse();
        assertThat(Linearizability.check(List.of(cas(0, 3, 1, 5), missed(0, 2, 6)), 0).linearizable()).isTrue();
    }

    @Test
    void manyConcurrentClientsAreCheckedQuickly() {
        // six clients, each reading then swapping in a value of its own, overlapping in time
        List<Call> calls = new ArrayList<>();
        long value = 0;
        long t = 0;
        for (int i = 1; i <= 3000; i++) {
            calls.add(read(value, t, t + 12));
            calls.add(cas(value, i, t + 1, t + 11));
            value = i;
            t += 10;
        }
        var r = Linearizability.check(calls, 0);
        assertThat(r.linearizable()).as(r.explanation()).isTrue();
    }

    @Test
    void theSearchStopsUndecidedAtItsBudget() {
        List<Call> calls = new ArrayList<>();
        for (int i = 1; i <= 12; i++) {
            calls.add(unknown(0, 0, 0)); // each may or may not have happened: 2^12 ways to look for the read of 99
        }
        calls.add(read(99, 1, 2));
        var r = Linearizability.check(calls, 0, 1_000);
        assertThat(r.decided()).isFalse();
        assertThat(r.explanation()).contains("undecided");
    }
}

package io.metako.server.health;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.Verdict;
import org.junit.jupiter.api.Test;

class VerdictCounterTest {
    @Test
    void downOnlyAfterThresholdConsecutiveFailures() {
        VerdictCounter c = new VerdictCounter();
        assertThat(c.record(true, 3, 2)).isEqualTo(Verdict.VERDICT_UNSPECIFIED);
        assertThat(c.record(true, 3, 2)).isEqualTo(Verdict.UP);
        assertThat(c.record(false, 3, 2)).isEqualTo(Verdict.UP);
        assertThat(c.record(false, 3, 2)).isEqualTo(Verdict.UP);
        assertThat(c.record(true, 3, 2)).as("a success resets the failure count").isEqualTo(Verdict.UP);
        assertThat(c.record(false, 3, 2)).isEqualTo(Verdict.UP);
        assertThat(c.record(false, 3, 2)).isEqualTo(Verdict.UP);
        assertThat(c.record(false, 3, 2)).isEqualTo(Verdict.DOWN);
        assertThat(c.consecutiveFailures()).isEqualTo(3);
    }

    @Test
    void upAgainOnlyAfterRecoveryThresholdSuccesses() {
        VerdictCounter c = new VerdictCounter();
        c.record(false, 1, 3);
        assertThat(c.verdict()).isEqualTo(Verdict.DOWN);
        assertThat(c.record(true, 1, 3)).isEqualTo(Verdict.DOWN);
        assertThat(c.record(true, 1, 3)).isEqualTo(Verdict.DOWN);
        assertThat(c.record(true, 1, 3)).isEqualTo(Verdict.UP);
        assertThat(c.consecutiveFailures()).isZero();
    }

    @Test
    void aNodeNeverSeenUpIsDownAfterTheFailureThreshold() {
        VerdictCounter c = new VerdictCounter();
        c.record(false, 2, 2);
        assertThat(c.verdict()).isEqualTo(Verdict.VERDICT_UNSPECIFIED);
        assertThat(c.record(false, 2, 2)).isEqualTo(Verdict.DOWN);
    }
}

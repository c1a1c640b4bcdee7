package io.metako.server.health;

import io.metako.proto.v1.Verdict;

/**
 * Turns a stream of probe outcomes into a verdict: DOWN after {@code failureThreshold}
 * consecutive failures, UP after {@code recoveryThreshold} consecutive successes. Not thread-safe:
 * one prober loop owns it.
 */
final class VerdictCounter {
    private Verdict verdict = Verdict.VERDICT_UNSPECIFIED;
    private int failures;
    private int successes;

    /** Records one probe outcome and returns the verdict after it. */
    Verdict record(boolean success, int failureThreshold, int recoveryThreshold) {
        if (success) {
            successes++;
            failures = 0;
            if (verdict != Verdict.UP && successes >= recoveryThreshold) {
                verdict = Verdict.UP;
            }
        } else {
            failures++;
            successes = 0;
            if (verdict != Verdict.DOWN && failures >= failureThreshold) {
                verdict = Verdict.DOWN;
            }
        }
        return verdict;
    }

    Verdict verdict() {
        return verdict;
    }

    int consecutiveFailures() {
        return failures;
    }
}

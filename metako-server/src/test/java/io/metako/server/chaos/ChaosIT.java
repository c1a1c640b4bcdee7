package io.metako.server.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The fault harness against separate instance processes and real PostgreSQL. The default suite
 * runs one seeded round of each named scenario; {@code -Dchaos.rounds=N} (scripts/chaos) runs N
 * rounds of every scenario with seeds from {@code chaos.seed} and prints the summary;
 * {@code chaos.scenario} (a label such as {@code kill-primary}) and {@code chaos.modes} ({@code async,sync})
 * narrow it.
 */
class ChaosIT {
    private static final long SMOKE_SEED = Long.getLong("chaos.seed", 20261204L);
    private static final long HOST_PARTITION_SEED = 20261400L;

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aFrozenPrimaryHostDoesNotAcknowledgeWritesAfterTheFailover() throws Exception {
        ChaosRound.Result r = ChaosRound.run(Scenario.FREEZE_PRIMARY_AND_FOLLOWER, SMOKE_SEED, "async", 3);
        report(r);
        assertThat(r.epochAfter()).as("a failover happened").isGreaterThan(r.epochBefore());
        assertThat(r.verdict().splitBrain()).as("writes the deposed primary acknowledged after its successor's first").isEmpty();
        assertThat(r.verdict().phantoms()).as("failed inserts that exist").isEmpty();
        assertThat(r.convergence()).as("every instance holds the same topology, epochs only rose").isEmpty();
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aKilledPrimaryLosesNoAcknowledgedWriteInSyncMode() throws Exception {
        failedOverLosingNothing(ChaosRound.run(Scenario.KILL_PRIMARY, SMOKE_SEED, "sync", 3));
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aLeaderKilledDuringAFailoverLosesNoAcknowledgedWriteInSyncMode() throws Exception {
        failedOverLosingNothing(ChaosRound.run(Scenario.KILL_LEADER_DURING_FAILOVER, SMOKE_SEED, "sync", 3));
    }

    /** A sync-mode round that must end in a new primary with every acknowledged write on it. */
    private static void failedOverLosingNothing(ChaosRound.Result r) {
        report(r);
        assertThat(r.epochAfter()).as("a failover happened and finished").isGreaterThan(r.epochBefore());
        assertThat(r.verdict().lost()).as("acknowledged writes missing on the new primary").isEmpty();
        assertThat(r.register().linearizable()).as("the register's history: " + r.register().line()).isTrue();
        assertThat(r.verdict().splitBrain()).isEmpty();
        assertThat(r.verdict().phantoms()).isEmpty();
        assertThat(r.convergence()).as("every instance holds the same topology, epochs only rose").isEmpty();
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aHostCutOffWithThePrimaryStopsRoutingWritesAndNoneSplitsTheBrain() throws Exception {
        // This seed cuts {one instance + the primary} off for 2 s and heals the Raft links 8 s before the
        // PostgreSQL links, so the majority fails over while the cut-off instance is back in the group and can
        // still reach the old primary: the case issue 20 saw acknowledge writes there for 25 s. (The default
        // seed only cut for 2 s without a failover, where no split-brain could happen.)
        ChaosRound.Result r = ChaosRound.run(Scenario.HOST_PARTITION, HOST_PARTITION_SEED, "async", 3);
        report(r);
        assertThat(r.epochAfter()).as("the majority failed over").isGreaterThan(r.epochBefore());
        assertThat(r.verdict().splitBrain()).as("writes the deposed primary acknowledged after its successor's first").isEmpty();
        assertThat(r.verdict().phantoms()).isEmpty();
        assertThat(r.convergence()).isEmpty();
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aStaleLeaderWhosePromotionHungCountsForNothing() throws Exception {
        // async: with one of the two synchronous standbys frozen, sync mode rightly promotes nobody meanwhile
        ChaosRound.Result r = ChaosRound.run(Scenario.STALE_LEADER_DURING_PROMOTE, SMOKE_SEED, "async", 3);
        report(r);
        assertThat(r.epochAfter()).as("the new leader failed over").isGreaterThan(r.epochBefore());
        assertThat(r.verdict().splitBrain()).as("writes a deposed primary acknowledged after its successor's first").isEmpty();
        assertThat(r.verdict().phantoms()).isEmpty();
        assertThat(r.convergence()).as("every instance holds the same topology, epochs only rose").isEmpty();
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aLeaderWhoseClockStepsBackAnHourStillFailsOverLosingNothing() throws Exception {
        failedOverLosingNothing(ChaosRound.run(Scenario.CLOCK_STEP_ON_LEADER, SMOKE_SEED, "sync", 3));
    }

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void aSwitchoverThroughThousandsOfSessionsEndsTheOpenTransaction() throws Exception {
        BusySwitchover.Result r = BusySwitchover.run(Integer.getInteger("chaos.sessions", 2_000));
        System.out.println("[chaos] " + r.line());
        assertThat(r.epochAfter()).as("the switchover happened").isGreaterThan(r.epochBefore());
        assertThat(r.commitError()).as("COMMIT of a transaction opened on the old primary, sent after the switchover").isNotNull();
        assertThat(r.rowOn()).as("nodes holding the open transaction's row").isEmpty();
        assertThat(r.busyOkAfter()).as("statements of the busy sessions on the new primary").isPositive();
    }

    @Test
    @EnabledIfSystemProperty(named = "chaos.rounds", matches = "\\d+")
    void seededRounds() throws Exception {
        int rounds = Integer.getInteger("chaos.rounds");
        List<ChaosRound.Result> results = new ArrayList<>();
        List<String> broken = new ArrayList<>();
        String only = System.getProperty("chaos.scenario", "").trim();
        List<String> modes = List.of(System.getProperty("chaos.modes", "async,sync").split(","));
        for (int i = 0; i < rounds; i++) {
            for (Scenario s : Scenario.values()) {
                if (!only.isEmpty() && !s.label().equals(only)) {
                    continue;
                }
                for (String mode : modes) {
                    try {
                        ChaosRound.Result r = ChaosRound.run(s, SMOKE_SEED + i, mode, s.instances());
                        report(r);
                        results.add(r);
                    } catch (Exception | AssertionError e) {
                        // a round that could not finish (its cluster did not settle, say) is reported and counted,
                        // and the batch goes on with the next one
                        String what = s.label() + " seed " + (SMOKE_SEED + i) + " " + mode + ": " + e;
                        System.out.println("[chaos] ROUND DID NOT FINISH " + what);
                        broken.add(what);
                    }
                }
            }
        }
        System.out.println(ChaosSummary.table(results));
        System.out.println(broken.size() + " round(s) did not finish" + (broken.isEmpty() ? "" : ": " + broken));
        assertThat(results).allMatch(ChaosRound.Result::safe);
        assertThat(broken).as("rounds that did not finish").isEmpty();
    }

    private static void report(ChaosRound.Result r) {
        System.out.println("[chaos] " + r.line());
        r.timeline().forEach(e -> System.out.println("[chaos]     " + e));
    }
}

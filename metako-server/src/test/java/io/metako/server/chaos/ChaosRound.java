package io.metako.server.chaos;

import io.metako.proto.v1.ClusterStatus;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * One round: a fresh cluster, the workload on every instance's router, one fault from the seed,
 * then (once the instances agree again) the checks. The cluster's folder is kept when the round
 * is unsafe, for its logs.
 */
final class ChaosRound {
    private static final Duration SETTLE = Duration.ofSeconds(90);

    /** A round's outcome: its line, and whether it held the promise. */
    record Result(Scenario scenario, long seed, String mode, Checker.Verdict verdict, RegisterClients.Verdict register,
                  List<String> convergence, List<String> timeline, long epochBefore,
                  long epochAfter, boolean safe, String keptDir, long cutOffWritesForMillis, long slowestLoginMillis,
                  long failedLogins, String slowestLoginTo) {
        String line() {
            return String.format("%-28s seed %-20d %s epoch %d->%d | %s | %s | %s | slowest login %.1f s%s, %d failed%s%s",
                    scenario.label(), seed, mode, epochBefore, epochAfter, verdict.line(), register.line(),
                    convergence.isEmpty() ? "converged" : "NOT CONVERGED: " + String.join("; ", convergence), slowestLoginMillis / 1000.0,
                    slowestLoginTo.isEmpty() ? "" : " (" + slowestLoginTo + ")", failedLogins,
                    cutOffWritesForMillis < 0 ? "" : " | the cut-off instances' last write acknowledged "
                            + cutOffWritesForMillis + " ms after the cut (Raft links still cut)", safe ? "" : " | UNSAFE, logs in " + keptDir);
        }
    }

    private ChaosRound() {
    }

    static Result run(Scenario scenario, long seed, String mode, int instances) throws Exception {
        Random random = new Random(seed);
        try (ChaosCluster c = ChaosCluster.start(instances, mode, SETTLE, scenario.fakeClocks())) {
            ClusterStatus before = c.awaitSettled(SETTLE);
            Workload.createTables(c, c.nodeIndex(before.getPrimary()));
            Scenario.Timeline t = new Scenario.Timeline();
            Checker.Verdict v;
            RegisterClients.Verdict register;
            ClusterStatus after;
            List<Op> history;
            List<Workload.Login> logins;
            List<String> convergence;
            Map<Long, Long> epochs;
            try (Workload w = new Workload(c, 5); RegisterClients r = new RegisterClients(c, seed);
                 Convergence watch = new Convergence(c)) {
                w.start(List.of(ChaosCluster.Port.values()));
                r.start();
                watch.start();
                awaitAcks(c, w, t.startMillis(), Duration.ofSeconds(30));
                t.mark("every router acknowledged writes");
                Thread.sleep(1_000 + random.nextInt(2_000)); // some history before the fault
                scenario.inject(c, before, random, t);
                after = c.awaitSettled(SETTLE);
                t.mark("settled: " + after.getPrimary() + " primary at epoch " + after.getEpoch());
                scenario.afterSettle(c, after, t);
                awaitAcks(c, w, System.currentTimeMillis(), Duration.ofSeconds(30));
                t.mark("every router acknowledged writes again");
                convergence = watch.check(c.statuses());
                epochs = watch.epochsSeen();
                w.close();
                r.close();
                register = r.check();
                history = w.history();
                logins = w.logins();
                c.startStoppedNodes();
                v = Checker.check(c, history, after.getPrimary());
            }
            // in async mode a lost write also breaks the register's history, so only sync mode must keep it
            // linearizable (an undecided search proves nothing, so it does not pass)
            boolean safe = v.safe(!mode.equals("sync")) && (!mode.equals("sync") || register.linearizable())
                    && (!scenario.failsOver() || after.getEpoch() > before.getEpoch())
                    && (scenario.mayFailOver() || after.getEpoch() == before.getEpoch()) && convergence.isEmpty()
                    && t.fact("unsafe").isEmpty();
            String title = scenario.label() + " seed " + seed + " " + mode + (safe ? "" : " UNSAFE") + ": " + v.line();
            List<String> nodes = c.cluster.nodes().stream().map(io.metako.server.pg.LocalPostgres::name).toList();
            if (!safe) {
                TimelineSvg.write(c.dir().resolve("timeline.svg"), title, t, history, nodes, epochs);
            }
            String svgDir = System.getProperty("chaos.svg", "");
            if (!svgDir.isBlank()) { // pictures of every round, for a look at safe ones too
                java.nio.file.Files.createDirectories(java.nio.file.Path.of(svgDir));
                TimelineSvg.write(java.nio.file.Path.of(svgDir, scenario.label() + "-" + seed + "-" + mode + ".svg"), title, t, history,
                        nodes, epochs);
            }
            if (safe && !Boolean.getBoolean("chaos.keep")) { // -Dchaos.keep=true keeps every round's logs
                c.close();
                c.deleteFiles();
            }
            return new Result(scenario, seed, mode, v, register, convergence, t.events(), before.getEpoch(), after.getEpoch(), safe,
                    c.dir().toString(), cutOffWrites(t, history, before.getPrimary()),
                    logins.stream().mapToLong(Workload.Login::millis).max().orElse(0),
                    logins.stream().filter(l -> !l.ok()).count(),
                    logins.stream().max(java.util.Comparator.comparingLong(Workload.Login::millis))
                            .map(l -> "metako-" + (l.instance() + 1) + " " + l.port().label + " at +" + (l.startMillis() - t.startMillis()) / 100 / 10.0 + "s"
                                    + (l.ok() ? "" : ", failed: " + l.error())).orElse(""));
        }
    }

    /**
     * For a partition: how long after the cut, while its Raft links were still cut, the cut-off
     * instance's router had writes acknowledged by the old primary (-1 when the round cut nothing off).
     * Within the lease is the goal.
     */
    private static long cutOffWrites(Scenario.Timeline t, List<Op> history, String oldPrimary) {
        Optional<Long> mask = t.fact("cutOffMask");
        Optional<Long> cut = t.fact("cutMillis");
        Optional<Long> healed = t.fact("raftHealMillis");
        if (mask.isEmpty() || cut.isEmpty() || healed.isEmpty()) {
            return -1;
        }
        return history.stream().filter(o -> (mask.get() & (1L << o.instance())) != 0 && o.outcome() == Op.Outcome.OK
                        && o.node().equals(oldPrimary) && o.endMillis() >= cut.get() && o.endMillis() < healed.get())
                .mapToLong(o -> o.endMillis() - cut.get()).max().orElse(0);
    }

    /** Waits until every instance's router has acknowledged a write since {@code sinceMillis}. */
    private static void awaitAcks(ChaosCluster c, Workload w, long sinceMillis, Duration timeout) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeout.toMillis();
        for (int i = 0; i < c.instanceCount(); i++) {
            while (w.okSince(i, sinceMillis) == 0) {
                if (System.currentTimeMillis() > deadline) {
                    throw new AssertionError("metako-" + (i + 1) + "'s router acknowledged no write within "
                            + timeout.toSeconds() + " s; logs in " + c.dir());
                }
                Thread.sleep(100);
            }
        }
    }
}

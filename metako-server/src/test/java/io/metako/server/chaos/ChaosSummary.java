package io.metako.server.chaos;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/** The summary table over many rounds: per scenario and mode, what was acknowledged, lost and split. */
final class ChaosSummary {
    private ChaosSummary() {
    }

    static String table(List<ChaosRound.Result> results) {
        Map<String, List<ChaosRound.Result>> groups = results.stream()
                .collect(Collectors.groupingBy(r -> r.scenario().label() + " " + r.mode(), TreeMap::new, Collectors.toList()));
        StringBuilder b = new StringBuilder();
        b.append(String.format("%-34s %6s %8s %6s %9s %11s %14s %9s %10s %10s %12s %13s%n", "scenario", "rounds", "acked", "lost",
                "phantoms", "split-brain", "sync not lin.", "diverged", "gap p50 s", "gap p95 s", "login max s", "cut-off max s"));
        for (var e : groups.entrySet()) {
            List<ChaosRound.Result> rs = e.getValue();
            List<Long> gaps = rs.stream().map(r -> r.verdict().maxGapMillis()).sorted().toList();
            long cutOff = rs.stream().mapToLong(ChaosRound.Result::cutOffWritesForMillis).max().orElse(-1);
            b.append(String.format("%-34s %6d %8d %6d %9d %11d %14d %9d %10.1f %10.1f %12.1f %13s%n", e.getKey(), rs.size(),
                    rs.stream().mapToInt(r -> r.verdict().acked()).sum(), rs.stream().mapToInt(r -> r.verdict().lost().size()).sum(),
                    rs.stream().mapToInt(r -> r.verdict().phantoms().size()).sum(),
                    rs.stream().mapToInt(r -> r.verdict().splitBrain().size()).sum(),
                    // async rounds that lost writes cannot keep the register linearizable: only sync rounds count
                    rs.stream().filter(r -> r.mode().equals("sync") && !r.register().linearizable()).count(),
                    rs.stream().filter(r -> !r.convergence().isEmpty()).count(), percentile(gaps, 50) / 1000.0,
                    percentile(gaps, 95) / 1000.0, rs.stream().mapToLong(ChaosRound.Result::slowestLoginMillis).max().orElse(0) / 1000.0,
                    cutOff < 0 ? "-" : String.format("%.1f", cutOff / 1000.0)));
        }
        return b.toString();
    }

    private static long percentile(List<Long> sorted, int p) {
        if (sorted.isEmpty()) {
            return 0;
        }
        int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }
}

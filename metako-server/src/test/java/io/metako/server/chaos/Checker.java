package io.metako.server.chaos;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The checks run over a round's history once its faults have healed, against what every node
 * (the quarantined ones included) holds:
 * <ul>
 *   <li>lost: an acknowledged id missing on the final primary;</li>
 *   <li>phantom: an id whose insert definitely failed, present on any node;</li>
 *   <li>split-brain: after the primary moved from P to Q, a write P acknowledged with a commit time
 *       later than Q's first acknowledged write (every node runs on this host, so commit timestamps
 *       from {@code track_commit_timestamp} share one clock).</li>
 * </ul>
 */
final class Checker {
    /** A row as one node holds it, with its commit time in microseconds. */
    record Row(long id, long commitMicros) {
    }

    /** What the checks found; {@link #line()} is the per-round line. */
    record Verdict(int acked, int failed, int unknown, Map<String, Integer> ackedBy, List<Long> lost, List<Long> phantoms,
                   List<Long> splitBrain, int lateUnacked, long maxGapMillis, String finalPrimary) {
        boolean safe(boolean lossAllowed) {
            return phantoms.isEmpty() && splitBrain.isEmpty() && (lossAllowed || lost.isEmpty());
        }

        String line() {
            return String.format("acked %d %s, failed %d, unknown %d | lost %d, phantoms %d, split-brain %d (late unacked %d)"
                            + " | longest gap between acks %.1f s | final primary %s", acked, ackedBy, failed, unknown,
                    lost.size(), phantoms.size(), splitBrain.size(), lateUnacked, maxGapMillis / 1000.0, finalPrimary);
        }
    }

    private Checker() {
    }

    static Verdict check(ChaosCluster c, List<Op> history, String finalPrimary) throws SQLException {
        Map<String, Map<Long, Long>> rowsByNode = new LinkedHashMap<>();
        for (int n = 0; n < c.cluster.nodes().size(); n++) {
            rowsByNode.put(c.cluster.nodes().get(n).name(), rows(c, n));
        }
        Map<Long, Op> byId = history.stream().collect(Collectors.toMap(Op::id, o -> o));
        List<Op> acked = history.stream().filter(o -> o.outcome() == Op.Outcome.OK).toList();
        Map<Long, Long> onPrimary = rowsByNode.get(finalPrimary);
        List<Long> lost = acked.stream().map(Op::id).filter(id -> !onPrimary.containsKey(id)).sorted().toList();
        List<Long> phantoms = history.stream().filter(o -> o.outcome() == Op.Outcome.FAILED).map(Op::id)
                .filter(id -> rowsByNode.values().stream().anyMatch(r -> r.containsKey(id))).sorted().toList();

        // each node's own acknowledgements, by the commit time that node recorded
        Map<String, List<Long>> ackTimes = new HashMap<>();
        for (Op o : acked) {
            Long ts = Optional.ofNullable(rowsByNode.get(o.node())).map(r -> r.get(o.id())).orElse(null);
            if (ts != null) {
                ackTimes.computeIfAbsent(o.node(), k -> new ArrayList<>()).add(ts);
            }
        }
        Map<String, Long> firstAck = new HashMap<>();
        ackTimes.forEach((node, times) -> firstAck.put(node, times.stream().min(Long::compare).orElseThrow()));
        List<Long> splitBrain = new ArrayList<>();
        int lateUnacked = 0;
        for (var p : rowsByNode.entrySet()) {
            String node = p.getKey();
            Long mine = firstAck.get(node);
            if (mine == null) {
                continue;
            }
            // the first acknowledgement by a node that took writes after this one did
            Optional<Long> successor = firstAck.entrySet().stream().filter(e -> !e.getKey().equals(node) && e.getValue() > mine)
                    .map(Map.Entry::getValue).min(Long::compare);
            if (successor.isEmpty()) {
                continue;
            }
            for (var row : p.getValue().entrySet()) {
                if (row.getValue() <= successor.get()) {
                    continue;
                }
                Op op = byId.get(row.getKey());
                boolean ackedHere = op != null && op.outcome() == Op.Outcome.OK && node.equals(op.node());
                if (ackedHere) {
                    splitBrain.add(row.getKey());
                } else if (!rowsByNode.get(finalPrimary).containsKey(row.getKey())) {
                    lateUnacked++; // committed on a deposed primary after its successor's first write, never acknowledged
                }
            }
        }
        Map<String, Integer> ackedBy = new java.util.TreeMap<>();
        acked.forEach(o -> ackedBy.merge(o.node(), 1, Integer::sum));
        return new Verdict(acked.size(), (int) history.stream().filter(o -> o.outcome() == Op.Outcome.FAILED).count(),
                (int) history.stream().filter(o -> o.outcome() == Op.Outcome.UNKNOWN).count(), ackedBy, lost, phantoms,
                splitBrain.stream().sorted().toList(), lateUnacked, maxGap(acked), finalPrimary);
    }

    private static long maxGap(List<Op> acked) {
        List<Long> ends = acked.stream().map(Op::endMillis).sorted(Comparator.naturalOrder()).toList();
        long gap = 0;
        for (int i = 1; i < ends.size(); i++) {
            gap = Math.max(gap, ends.get(i) - ends.get(i - 1));
        }
        return gap;
    }

    /** A node's rows; tried again when a fence of metako's ends the reading session (a deposed primary). */
    private static Map<Long, Long> rows(ChaosCluster c, int node) throws SQLException {
        for (int attempt = 1; ; attempt++) {
            try {
                return rowsOnce(c, node);
            } catch (SQLException e) {
                if (attempt >= 5) {
                    throw e;
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    private static Map<Long, Long> rowsOnce(ChaosCluster c, int node) throws SQLException {
        Map<Long, Long> rows = new HashMap<>();
        try (Connection conn = c.connectNode(node);
             ResultSet rs = conn.createStatement().executeQuery("SELECT id, (extract(epoch FROM pg_xact_commit_timestamp(xmin))"
                     + " * 1000000)::bigint FROM " + Workload.TABLE)) {
            while (rs.next()) {
                rows.put(rs.getLong(1), rs.getLong(2));
            }
        }
        return rows;
    }
}

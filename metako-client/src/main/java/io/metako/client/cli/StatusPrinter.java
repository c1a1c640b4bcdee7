package io.metako.client.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.GetHistoryResponse;
import io.metako.proto.v1.ListMembersResponse;
import io.metako.proto.v1.MutationResponse;
import io.metako.proto.v1.TopologyEvent;
import io.metako.proto.v1.Member;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.ProxyStatus;
import io.metako.proto.v1.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** Renders admin API answers as aligned tables, one-line summaries, or JSON (proto field names). */
final class StatusPrinter {
    private static final JsonFormat.Printer JSON = JsonFormat.printer().preservingProtoFieldNames()
            .alwaysPrintFieldsWithNoPresence();

    private StatusPrinter() {
    }

    static String json(MessageOrBuilder m) {
        try {
            return JSON.print(m);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    static String jsonLine(MessageOrBuilder m) {
        try {
            return JSON.omittingInsignificantWhitespace().print(m);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    static String jsonNodes(ClusterStatus s) {
        return s.getNodesList().stream().map(StatusPrinter::json).collect(Collectors.joining(",\n", "[", "]"));
    }

    static String status(ClusterStatus s) {
        StringBuilder sb = new StringBuilder();
        sb.append("cluster ").append(s.getClusterName().isEmpty() ? "(not seeded)" : s.getClusterName())
                .append("   epoch ").append(s.getEpoch())
                .append("   primary ").append(s.getPrimary().isEmpty() ? "(none)" : s.getPrimary())
                .append(s.getPaused() ? "   PAUSED" : "").append('\n');
        sb.append("raft leader ").append(s.getLeaderId().isEmpty() ? "(unknown)" : s.getLeaderId())
                .append("   term ").append(s.getTerm()).append("   applied index ").append(s.getAppliedIndex())
                .append("   answered by ").append(s.getAnsweredBy()).append('\n');
        if (s.getSynchronousStandbysCount() > 0) {
            sb.append("synchronous standbys: ").append(String.join(", ", s.getSynchronousStandbysList()))
                    .append(" (ANY ").append(s.getSettings().getReplication().getSyncStandbys()).append(")\n");
        }
        sb.append("lease: ").append(s.getHoldsLease() ? "held (writes may be routed here)" : "NOT held (writes fail closed here)")
                .append('\n');
        if (s.hasProxy()) {
            sb.append(proxy(s.getAnsweredBy(), s.getProxy())).append('\n');
            sb.append(statements(s.getAnsweredBy(), s.getProxy())).append('\n');
        }
        sb.append("controller: ").append(s.getControllerSentence()).append("\n\n");
        if (s.getConfigDriftCount() > 0) {
            sb.append("config drift: ").append(s.getAnsweredBy()).append("'s file disagrees with the cluster (the cluster's"
                    + " values count):\n");
            s.getConfigDriftList().forEach(d -> sb.append("  ").append(d).append('\n'));
            sb.append('\n');
        }
        sb.append(nodes(s)).append('\n');
        String rejoins = rejoins(s, System.currentTimeMillis());
        if (!rejoins.isEmpty()) {
            sb.append(rejoins).append('\n');
        }
        sb.append(memberTable(s.getMembersList()));
        return sb.toString();
    }

    /** One line: the answering instance's client sessions, and its backend connections per node (in use + kept idle). */
    static String proxy(String instance, ProxyStatus p) {
        String backends = p.getBackendsList().stream()
                .map(b -> b.getNode() + " " + b.getInUse() + " in use + " + b.getKept() + " kept")
                .collect(Collectors.joining(", "));
        return "proxy on " + instance + ": " + p.getClientSessions() + " client session" + (p.getClientSessions() == 1 ? "" : "s")
                + "; backend connections: " + (backends.isEmpty() ? "none" : backends);
    }

    /** One line: the statements the answering instance's router carried, overall and by node. */
    static String statements(String instance, ProxyStatus p) {
        String nodes = p.getNodesList().stream().map(n -> n.getNode() + " " + n.getStatements() + " (" + n.getReads()
                + " r, " + n.getWrites() + " w, " + n.getFailures() + " failed)").collect(Collectors.joining(", "));
        return "statements on " + instance + ": " + p.getStatements() + " (reads " + p.getReads() + ", writes "
                + p.getWrites() + ", other " + (p.getStatements() - p.getReads() - p.getWrites()) + "), failures "
                + p.getFailures() + (nodes.isEmpty() ? "" : "; " + nodes);
    }

    /** One instance's answer to {@code metakoctl stats}: its proxy's counts, or why it did not answer. */
    record InstanceStats(String endpoint, String instance, ProxyStatus proxy, String error) {
    }

    /** The statement counts of each instance and the cluster's totals, then the totals by node. */
    static String stats(List<InstanceStats> answers) {
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("INSTANCE", "ENDPOINT", "SESSIONS", "STATEMENTS", "READS", "WRITES", "OTHER", "FAILURES"));
        long[] total = new long[5];
        java.util.Map<String, long[]> byNode = new java.util.TreeMap<>();
        for (InstanceStats a : answers) {
            if (a.error() != null || a.proxy() == null) {
                rows.add(List.of(a.instance().isEmpty() ? "?" : a.instance(), a.endpoint(), "-", "-", "-", "-", "-",
                        a.error() != null ? "no answer: " + a.error().lines().findFirst().orElse("") : "no statement router"));
                continue;
            }
            ProxyStatus p = a.proxy();
            long other = p.getStatements() - p.getReads() - p.getWrites();
            rows.add(List.of(a.instance(), a.endpoint(), Long.toString(p.getClientSessions()), Long.toString(p.getStatements()),
                    Long.toString(p.getReads()), Long.toString(p.getWrites()), Long.toString(other),
                    Long.toString(p.getFailures())));
            long[] add = {p.getClientSessions(), p.getStatements(), p.getReads(), p.getWrites(), p.getFailures()};
            for (int i = 0; i < add.length; i++) {
                total[i] += add[i];
            }
            for (var n : p.getNodesList()) {
                long[] t = byNode.computeIfAbsent(n.getNode(), k -> new long[4]);
                t[0] += n.getStatements();
                t[1] += n.getReads();
                t[2] += n.getWrites();
                t[3] += n.getFailures();
            }
        }
        rows.add(List.of("total", "", Long.toString(total[0]), Long.toString(total[1]), Long.toString(total[2]),
                Long.toString(total[3]), Long.toString(total[1] - total[2] - total[3]), Long.toString(total[4])));
        StringBuilder sb = new StringBuilder(table(rows)).append('\n');
        List<List<String>> nodes = new ArrayList<>();
        nodes.add(List.of("NODE", "STATEMENTS", "READS", "WRITES", "FAILURES"));
        byNode.forEach((node, t) -> nodes.add(List.of(node, Long.toString(t[0]), Long.toString(t[1]), Long.toString(t[2]),
                Long.toString(t[3]))));
        return sb.append(table(nodes)).toString();
    }

    /** {@code metakoctl stats -o json}: one object per instance, the proxy status as the admin API gives it. */
    static String statsJson(List<InstanceStats> answers) {
        StringBuilder sb = new StringBuilder("[");
        for (InstanceStats a : answers) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append("{\"endpoint\":").append(quote(a.endpoint())).append(",\"instance\":").append(quote(a.instance()));
            if (a.error() != null) {
                sb.append(",\"error\":").append(quote(a.error()));
            } else if (a.proxy() != null) {
                sb.append(",\"proxy\":").append(jsonLine(a.proxy()));
            }
            sb.append('}');
        }
        return sb.append(']').toString();
    }

    private static String quote(String s) {
        try {
            return JSON.print(com.google.protobuf.Value.newBuilder().setStringValue(s).build());
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    static String nodes(ClusterStatus s) {
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("NODE", "ADDRESS", "ROLE", "HEALTH", "UP", "OBSERVED", "TIMELINE", "LSN", "LAG", "ERROR"));
        for (NodeStatus n : s.getNodesList()) {
            NodeObservation o = n.getObservation();
            long up = n.getVerdictsList().stream().filter(v -> v.getVerdict() == Verdict.UP).count();
            rows.add(List.of(n.getNode().getName(), n.getNode().getHost() + ":" + n.getNode().getPort(),
                    n.getNode().getRole().name(), n.getHealth().name(), up + "/" + s.getInstances(),
                    !n.hasObservation() ? "-" : !o.getReachable() ? "unreachable" : o.getInRecovery() ? "replica" : "primary",
                    o.getTimeline() == 0 ? "-" : Long.toString(o.getTimeline()),
                    lsn(o), lag(o), o.getError().isEmpty() ? "" : o.getError()));
        }
        return table(rows);
    }

    /** One line per quarantined node: how its rejoin goes, or why none runs. Empty when no node is quarantined. */
    static String rejoins(ClusterStatus s, long nowMillis) {
        StringBuilder sb = new StringBuilder();
        for (NodeStatus n : s.getNodesList()) {
            if (n.getNode().getRole() != io.metako.proto.v1.NodeRole.QUARANTINED) {
                continue;
            }
            io.metako.proto.v1.NodeRejoin r = n.getNode().getRejoin();
            String manager = n.getNode().getManagingInstance().isEmpty() ? "no managing instance"
                    : "managed by " + n.getNode().getManagingInstance();
            sb.append("rejoin ").append(n.getNode().getName()).append(": ");
            if (r.getAttempt() == 0 || r.getEpoch() != s.getEpoch()) {
                sb.append("none running (").append(manager).append(")");
            } else if (r.getFinishedMillis() == 0) {
                sb.append("attempt ").append(r.getAttempt()).append(" (").append(r.getMethod()).append(") from ")
                        .append(r.getSource()).append(", running for ")
                        .append(Math.max(0, nowMillis - r.getStartedMillis()) / 1000).append("s (").append(manager).append(")");
            } else if (r.getError().isEmpty()) {
                sb.append("attempt ").append(r.getAttempt()).append(": restarted as a replica by ").append(r.getDoneBy())
                        .append(" in ").append(Math.max(0, r.getFinishedMillis() - r.getStartedMillis())).append(" ms;")
                        .append(" waiting to see it stream from ").append(r.getSource());
            } else {
                sb.append("attempt ").append(r.getAttempt()).append(" FAILED: ").append(r.getError());
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    static String members(ListMembersResponse m) {
        return "answered by " + m.getAnsweredBy() + "   leader " + (m.getLeaderId().isEmpty() ? "(unknown)" : m.getLeaderId())
                + "   term " + m.getTerm() + "\n\n" + memberTable(m.getMembersList());
    }

    static String oneLine(ClusterStatus s) {
        String health = s.getNodesList().stream()
                .map(n -> n.getNode().getName() + "=" + n.getNode().getRole().name().toLowerCase(Locale.ROOT)
                        + (rejoining(s, n) ? "+rejoining" : "") + "/" + n.getHealth().name().toLowerCase(Locale.ROOT))
                .collect(Collectors.joining(" "));
        return java.time.LocalTime.now().withNano(0) + " epoch=" + s.getEpoch() + " primary="
                + (s.getPrimary().isEmpty() ? "-" : s.getPrimary()) + " leader="
                + (s.getLeaderId().isEmpty() ? "-" : s.getLeaderId()) + " term=" + s.getTerm() + " " + health
                + " | " + s.getControllerSentence();
    }

    private static boolean rejoining(ClusterStatus s, NodeStatus n) {
        io.metako.proto.v1.NodeRejoin r = n.getNode().getRejoin();
        return n.getNode().getRole() == io.metako.proto.v1.NodeRole.QUARANTINED && r.getAttempt() > 0
                && r.getEpoch() == s.getEpoch() && r.getError().isEmpty();
    }

    static String reload(io.metako.proto.v1.ReloadResponse r) {
        StringBuilder sb = new StringBuilder();
        if (!r.getReloaded()) {
            sb.append(r.getInstance()).append(": ").append(r.getFile()).append(" refused, the running configuration stays:\n");
            r.getProblemsList().forEach(p -> sb.append("  - ").append(p).append('\n'));
            return sb.toString();
        }
        sb.append(r.getInstance()).append(": reloaded ").append(r.getFile()).append('\n');
        sb.append("  applied: ").append(r.getAppliedCount() == 0 ? "nothing changed" : String.join(", ", r.getAppliedList()))
                .append('\n');
        if (r.getRestartNeededCount() > 0) {
            sb.append("  take effect at the next start: ").append(String.join(", ", r.getRestartNeededList())).append('\n');
        }
        r.getDriftList().forEach(d -> sb.append("  drift (not applied): ").append(d).append('\n'));
        return sb.toString();
    }

    static String mutation(MutationResponse m) {
        return m.getMessage() + (m.getLeaderId().isEmpty() ? "" : " (leader " + m.getLeaderId() + ")") + "\n";
    }

    static String history(GetHistoryResponse h) {
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("TIME", "KIND", "TOOK", "EPOCH", "TERM", "OLD", "NEW", "CANDIDATES", "FENCE", "REASON"));
        for (TopologyEvent e : h.getEventsList()) {
            String candidates = e.getCandidatesList().stream()
                    .map(c -> c.getNode() + "@" + Long.toHexString(c.getLsn() >>> 32).toUpperCase(Locale.ROOT) + "/"
                            + Long.toHexString(c.getLsn() & 0xFFFFFFFFL).toUpperCase(Locale.ROOT))
                    .collect(Collectors.joining(","));
            String took = e.getStartedMillis() > 0 && e.getTimeMillis() >= e.getStartedMillis()
                    ? (e.getTimeMillis() - e.getStartedMillis()) + " ms" : "-";
            rows.add(List.of(java.time.Instant.ofEpochMilli(e.getTimeMillis()).toString(), e.getKind().name(), took,
                    Long.toString(e.getEpoch()), Long.toString(e.getTerm()), dash(e.getOldPrimary()),
                    dash(e.getNewPrimary()), dash(candidates), dash(e.getFence()), e.getReason()));
        }
        return table(rows);
    }

    private static String dash(String s) {
        return s.isEmpty() ? "-" : s;
    }

    private static String memberTable(List<Member> members) {
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("MEMBER", "RAFT", "ADMIN API", "ROLE", "MEMBERSHIP"));
        for (Member m : members) {
            rows.add(List.of(m.getId() + (m.getSelf() ? " *" : ""), m.getRaftAddress(), dash(m.getGrpcAddress()),
                    m.getRole().name(), dash(m.getMembership())));
        }
        return table(rows);
    }

    private static String lsn(NodeObservation o) {
        if (!o.getCurrentLsn().isEmpty()) {
            return o.getCurrentLsn();
        }
        return o.getReplayLsn().isEmpty() ? "-" : o.getReplayLsn();
    }

    private static String lag(NodeObservation o) {
        if (!o.getReachable() || !o.getInRecovery()) {
            return "-";
        }
        return o.getLagBytes() + "B/" + String.format(Locale.ROOT, "%.1fs", o.getLagSeconds());
    }

    static String table(List<List<String>> rows) {
        int cols = rows.get(0).size();
        int[] width = new int[cols];
        for (List<String> r : rows) {
            for (int i = 0; i < cols; i++) {
                width[i] = Math.max(width[i], r.get(i).length());
            }
        }
        StringBuilder sb = new StringBuilder();
        for (List<String> r : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < cols; i++) {
                line.append(String.format("%-" + (width[i] + 2) + "s", r.get(i)));
            }
            sb.append(line.toString().stripTrailing()).append('\n');
        }
        return sb.toString();
    }
}

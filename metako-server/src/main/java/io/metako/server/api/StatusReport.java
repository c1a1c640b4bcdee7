package io.metako.server.api;

import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.server.logging.Json;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The periodic status report ({@code logging.status_interval}): one log line that says, in its message, what an
 * operator reading the log wants first, and carries the rest as fields of the JSON line (primary, epoch, each
 * node's role, health and lag, the proxy's counts).
 */
public final class StatusReport {
    private StatusReport() {
    }

    /** The line: its message and its fields (numbers, booleans, strings, {@link Json} objects). */
    public record Line(String message, Map<String, Object> fields) {
    }

    public static Line of(ClusterStatus s) {
        long healthy = s.getNodesList().stream().filter(n -> n.getHealth() == MajorityHealth.HEALTHY).count();
        StringBuilder msg = new StringBuilder("status: ");
        msg.append(s.getPrimary().isEmpty() ? "no primary" : "primary " + s.getPrimary()).append(", epoch ")
                .append(s.getEpoch()).append(", ").append(healthy).append('/').append(s.getNodesCount())
                .append(" nodes healthy");
        for (NodeStatus n : s.getNodesList()) {
            if (n.getHealth() != MajorityHealth.HEALTHY) {
                msg.append(", ").append(n.getNode().getName()).append(' ').append(lower(n.getHealth().name()));
            }
        }
        msg.append(", leader ").append(s.getLeaderId().isEmpty() ? "none" : s.getLeaderId())
                .append(s.getHoldsLease() ? "" : ", NO write lease here");
        if (s.getPaused()) {
            msg.append(", failover PAUSED");
        }
        if (s.hasProxy()) {
            msg.append(", ").append(s.getProxy().getClientSessions()).append(" client sessions, ")
                    .append(s.getProxy().getStatements()).append(" statements (").append(s.getProxy().getReads())
                    .append(" reads, ").append(s.getProxy().getWrites()).append(" writes, ")
                    .append(s.getProxy().getFailures()).append(" failed)");
        }
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("report", "status");
        f.put("primary", s.getPrimary());
        f.put("leader", s.getLeaderId());
        f.put("holds_lease", s.getHoldsLease());
        f.put("paused", s.getPaused());
        f.put("nodes_healthy", healthy);
        Json nodes = Json.object();
        for (NodeStatus n : s.getNodesList()) {
            Json node = Json.object().put("role", lower(n.getNode().getRole().name()))
                    .put("health", lower(n.getHealth().name()));
            if (n.getObservation().getReachable() && n.getObservation().getInRecovery()) {
                node.put("lag_bytes", n.getObservation().getLagBytes()).put("lag_seconds", n.getObservation().getLagSeconds());
            }
            if (n.getObservation().getTimeline() > 0) {
                node.put("timeline", n.getObservation().getTimeline());
            }
            nodes.put(n.getNode().getName(), node);
        }
        f.put("nodes", nodes);
        if (s.hasProxy()) {
            var p = s.getProxy();
            Json proxy = Json.object().put("client_sessions", p.getClientSessions()).put("statements", p.getStatements())
                    .put("reads", p.getReads()).put("writes", p.getWrites()).put("failures", p.getFailures());
            for (var b : s.getProxy().getBackendsList()) {
                proxy.put(b.getNode() + "_in_use", b.getInUse()).put(b.getNode() + "_kept", b.getKept());
            }
            f.put("proxy", proxy);
        }
        f.put("controller", s.getControllerSentence());
        return new Line(msg.toString(), f);
    }

    private static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }
}

package io.metako.server.control;

import io.metako.server.state.Nodes;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRole;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;

/**
 * Keeps the primary's {@code synchronous_standby_names} and the replicated synchronous set in
 * step, one change per tick, so that the primary's setting is always a subset of the replicated
 * set: the set grows in the log before the primary names a new member, and shrinks in the log
 * only after the primary stopped naming it. Strict: it never shrinks below {@code sync_standbys},
 * so commits wait for a missing standby rather than lose the guarantee. Pure.
 */
final class SynchronousSet {
    private SynchronousSet() {
    }

    static boolean syncMode(ClusterState s) {
        return "sync".equals(s.getSettings().getReplication().getMode());
    }

    static int required(ClusterState s) {
        return Math.max(1, s.getSettings().getReplication().getSyncStandbys());
    }

    /** The value metako gives {@code synchronous_standby_names}: {@code ANY n ("a", "b")}, or empty. */
    static String setting(List<String> names, int n) {
        if (names.isEmpty()) {
            return "";
        }
        List<String> quoted = names.stream().map(x -> "\"" + x.replace("\"", "\"\"") + "\"").toList();
        return "ANY " + n + " (" + String.join(", ", quoted) + ")";
    }

    /** The next step towards a consistent synchronous set, if one is due. */
    static Optional<ControllerAction> step(ControllerView view, Node primary, NodeObservation seen) {
        ClusterState s = view.state();
        List<String> current = s.getSynchronousStandbysList();
        if (!syncMode(s)) {
            if (!seen.getSynchronousStandbyNames().isEmpty()) {
                return Optional.of(new ControllerAction.ConfigureSync(primary.getName(), List.of(), 0));
            }
            return current.isEmpty() ? Optional.empty() : Optional.of(new ControllerAction.SetSyncSet(List.of()));
        }
        int n = required(s);
        List<String> desired = desired(view, primary, n);
        TreeSet<String> union = new TreeSet<>(current);
        union.addAll(desired);
        if (!current.containsAll(desired)) {
            return Optional.of(new ControllerAction.SetSyncSet(List.copyOf(union)));
        }
        if (!seen.getSynchronousStandbyNames().equals(setting(desired, n))) {
            return Optional.of(new ControllerAction.ConfigureSync(primary.getName(), desired, n));
        }
        if (!current.equals(desired)) {
            return Optional.of(new ControllerAction.SetSyncSet(desired));
        }
        return Optional.empty();
    }

    /**
     * In sync mode with fewer healthy replicas streaming from {@code primary} than {@code sync_standbys}:
     * the sentence that says every commit now waits, and why (strict mode never lowers the count).
     */
    static Optional<String> shortfall(ControllerView view, Node primary) {
        ClusterState s = view.state();
        if (!syncMode(s)) {
            return Optional.empty();
        }
        int n = required(s);
        long streaming = s.getNodesList().stream().filter(node -> node.getRole() == NodeRole.REPLICA)
                .filter(node -> streams(view, node, primary) && view.health(node.getName()) == MajorityHealth.HEALTHY).count();
        if (streaming >= n) {
            return Optional.empty();
        }
        return Optional.of("commits on " + primary.getName() + " wait: " + streaming + " of the " + n
                + " synchronous standbys replication.sync_standbys asks for stream from it (a commit waits rather than"
                + " lose the guarantee; add or repair a replica, or lower sync_standbys)");
    }

    private static boolean streams(ControllerView view, Node node, Node primary) {
        NodeObservation o = view.observations().get(node.getName());
        return o != null && o.getReachable() && o.getInRecovery()
                && Nodes.upstreamIs(o, primary) && "streaming".equals(o.getWalReceiverStatus());
    }

    /** Replicas streaming from the primary and healthy by majority; never fewer than n while old members remain. */
    private static List<String> desired(ControllerView view, Node primary, int n) {
        ClusterState s = view.state();
        TreeSet<String> healthy = new TreeSet<>();
        TreeSet<String> stillReplicas = new TreeSet<>();
        for (Node node : s.getNodesList()) {
            if (node.getRole() != NodeRole.REPLICA) {
                continue;
            }
            stillReplicas.add(node.getName());
            if (streams(view, node, primary) && view.health(node.getName()) == MajorityHealth.HEALTHY) {
                healthy.add(node.getName());
            }
        }
        if (healthy.size() >= n) {
            return List.copyOf(healthy);
        }
        TreeSet<String> keep = new TreeSet<>(healthy);
        for (String m : s.getSynchronousStandbysList()) {
            if (stillReplicas.contains(m)) {
                keep.add(m);
            }
        }
        return new ArrayList<>(keep);
    }
}

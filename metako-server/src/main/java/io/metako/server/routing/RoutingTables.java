package io.metako.server.routing;

import io.metako.server.health.HealthByMajority;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRole;
import io.metako.proxy.routing.RoutingTable;
import io.metako.proxy.routing.WriteLease;
import io.metako.server.health.Lsn;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Computes the {@link RoutingTable} an instance publishes, from the replicated state, its own
 * observations and its write lease (held for the state's epoch now or not; the table carries the
 * lease, which the proxy asks again at every use). Only the node the state names primary
 * (with role PRIMARY) may take writes; only REPLICA nodes healthy by majority, seen in recovery
 * and within {@code max_replica_lag} take reads: quarantined and unknown nodes never appear.
 */
public final class RoutingTables {
    private RoutingTables() {
    }

    public static RoutingTable of(ClusterState s, Map<String, NodeObservation> observations, List<String> members,
                                  WriteLease lease) {
        if (!s.getSeeded()) {
            return RoutingTable.unknown();
        }
        Optional<RoutingTable.Backend> primary = s.getNodesList().stream()
                .filter(n -> n.getName().equals(s.getPrimary()) && n.getRole() == NodeRole.PRIMARY)
                .findFirst().map(RoutingTables::backend);
        long maxLag = s.getSettings().getLoadBalancer().getMaxReplicaLagBytes();
        long primaryLsn = Optional.ofNullable(observations.get(s.getPrimary()))
                .filter(o -> o.getReachable() && !o.getInRecovery()).map(o -> Lsn.parse(o.getCurrentLsn())).orElse(-1L);
        List<RoutingTable.Replica> replicas = new ArrayList<>();
        for (Node n : s.getNodesList()) {
            NodeObservation o = observations.get(n.getName());
            if (n.getRole() != NodeRole.REPLICA || o == null || !o.getReachable() || !o.getInRecovery()
                    || HealthByMajority.healthOf(s, n.getName(), members) != MajorityHealth.HEALTHY) {
                continue;
            }
            long lag = primaryLsn < 0 || o.getReplayLsn().isEmpty() ? 0 : Math.max(0, primaryLsn - Lsn.parse(o.getReplayLsn()));
            if (maxLag > 0 && lag > maxLag) {
                continue;
            }
            replicas.add(new RoutingTable.Replica(backend(n), lag, o.getLagSeconds(), !n.getTags().getNoloadbalance(),
                    o.getReplayLsn().isEmpty() ? -1 : Lsn.parse(o.getReplayLsn())));
        }
        replicas.sort(Comparator.comparingLong(RoutingTable.Replica::lagBytes).thenComparing(r -> r.backend().name()));
        return new RoutingTable(s.getEpoch(), primary, replicas, lease.validFor(s.getEpoch()), lease,
                balance(s.getSettings().getLoadBalancer().getAlgorithm()));
    }

    /** The replicated load_balancer.algorithm (both spellings the file accepts); unknown or unset: round robin. */
    static RoutingTable.Balance balance(String algorithm) {
        return switch (algorithm) {
            case "least_connections", "least_connected" -> RoutingTable.Balance.LEAST_CONNECTIONS;
            default -> RoutingTable.Balance.ROUND_ROBIN;
        };
    }

    private static RoutingTable.Backend backend(Node n) {
        return new RoutingTable.Backend(n.getName(), n.getHost(), n.getPort());
    }
}

package io.metako.server;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.FailoverSettings;
import io.metako.proto.v1.HealthCheckSettings;
import io.metako.proto.v1.LoadBalancerSettings;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeTags;
import io.metako.proto.v1.ReplicationSettings;
import io.metako.proto.v1.SeedCluster;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.NodeConfig;
import java.util.Locale;

/** The {@link SeedCluster} command an instance proposes from its configuration file. */
public final class SeedFactory {
    private SeedFactory() {
    }

    public static SeedCluster seedOf(MetakoConfig c) {
        SeedCluster.Builder b = SeedCluster.newBuilder().setClusterName(c.clusterName()).setSettings(settingsOf(c));
        for (NodeConfig n : c.nodes()) {
            b.addNodes(Node.newBuilder().setName(n.name()).setHost(n.host()).setPort(n.port())
                    .setDatabase(n.database())
                    .setRole(n.initialRole() == NodeConfig.Role.PRIMARY ? NodeRole.PRIMARY : NodeRole.REPLICA)
                    .setTags(NodeTags.newBuilder().setPriority(n.priority()).setNofailover(n.nofailover())
                            .setNoloadbalance(n.noloadbalance())));
            if (n.initialRole() == NodeConfig.Role.PRIMARY) {
                b.setPrimary(n.name());
            }
        }
        return b.build();
    }

    static ClusterSettings settingsOf(MetakoConfig c) {
        return ClusterSettings.newBuilder()
                .setHealthCheck(HealthCheckSettings.newBuilder()
                        .setIntervalMillis(c.healthCheck().interval().toMillis())
                        .setTimeoutMillis(c.healthCheck().timeout().toMillis())
                        .setFailureThreshold(c.healthCheck().failureThreshold())
                        .setRecoveryThreshold(c.healthCheck().recoveryThreshold()))
                .setLoadBalancer(LoadBalancerSettings.newBuilder()
                        .setAlgorithm(c.loadBalancer().algorithm().configName())
                        .setStatementReadTimeoutMillis(c.loadBalancer().readTimeout().toMillis())
                        .setStatementWriteTimeoutMillis(c.loadBalancer().writeTimeout().toMillis())
                        .setMaxReplicaLagBytes(c.loadBalancer().maxReplicaLagBytes()))
                .setFailover(FailoverSettings.newBuilder()
                        .setMaximumLagOnFailoverBytes(c.failover().maximumLagOnFailoverBytes())
                        .setCooldownMillis(c.failover().cooldown().toMillis())
                        .setLeaseMillis(c.failover().lease().toMillis()))
                .setReplication(ReplicationSettings.newBuilder()
                        .setMode(c.replication().mode().name().toLowerCase(Locale.ROOT))
                        .setSyncStandbys(c.replication().syncStandbys()))
                .setRejoin(io.metako.proto.v1.RejoinSettings.newBuilder().setManual(!c.rejoin().auto())
                        .setMethod(c.rejoin().method()))
                .build();
    }
}

package io.metako.server.config;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.FailoverSettings;
import io.metako.proto.v1.HealthCheckSettings;
import io.metako.proto.v1.LoadBalancerSettings;
import io.metako.proto.v1.ReplicationSettings;
import io.metako.proto.v1.RejoinSettings;
import java.util.List;
import java.util.Locale;

/**
 * The cluster-wide sections of a configuration: the file seeds them once, then they live in the replicated
 * state only ({@link ClusterSettings}), changed by {@code metakoctl config set / edit} through the log.
 */
public record ClusterWide(HealthCheckConfig healthCheck, LoadBalancerConfig loadBalancer, FailoverConfig failover,
                          ReplicationConfig replication, RejoinConfig rejoin) {
    /** The top-level keys of the cluster-wide sections, in the file's order. */
    public static final List<String> SECTIONS = List.of("health_check", "load_balancer", "failover", "replication",
            "rejoin");

    public static ClusterWide of(MetakoConfig c) {
        return new ClusterWide(c.healthCheck(), c.loadBalancer(), c.failover(), c.replication(), c.rejoin());
    }

    /** The replicated form. */
    public ClusterSettings toProto() {
        return ClusterSettings.newBuilder()
                .setHealthCheck(HealthCheckSettings.newBuilder()
                        .setIntervalMillis(healthCheck.interval().toMillis())
                        .setTimeoutMillis(healthCheck.timeout().toMillis())
                        .setFailureThreshold(healthCheck.failureThreshold())
                        .setRecoveryThreshold(healthCheck.recoveryThreshold()))
                .setLoadBalancer(LoadBalancerSettings.newBuilder()
                        .setAlgorithm(loadBalancer.algorithm().configName())
                        .setStatementReadTimeoutMillis(loadBalancer.readTimeout().toMillis())
                        .setStatementWriteTimeoutMillis(loadBalancer.writeTimeout().toMillis())
                        .setMaxReplicaLagBytes(loadBalancer.maxReplicaLagBytes()))
                .setFailover(FailoverSettings.newBuilder()
                        .setMaximumLagOnFailoverBytes(failover.maximumLagOnFailoverBytes())
                        .setCooldownMillis(failover.cooldown().toMillis())
                        .setLeaseMillis(failover.lease().toMillis()))
                .setReplication(ReplicationSettings.newBuilder()
                        .setMode(replication.mode().name().toLowerCase(Locale.ROOT))
                        .setSyncStandbys(replication.syncStandbys()))
                .setRejoin(RejoinSettings.newBuilder().setManual(!rejoin.auto()).setMethod(rejoin.method()))
                .build();
    }
}

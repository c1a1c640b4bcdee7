package io.metako.server.config;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.Setting;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The replicated cluster-wide settings under the keys of the configuration file, with values written as one would
 * write them there ({@code 1s}, {@code 16MB}): what {@code metakoctl config show / get} print.
 */
public final class ClusterSettingsKeys {
    private ClusterSettingsKeys() {
    }

    public static List<Setting> of(ClusterSettings s) {
        List<Setting> out = new ArrayList<>();
        var hc = s.getHealthCheck();
        add(out, "health_check.interval", duration(hc.getIntervalMillis()));
        add(out, "health_check.timeout", duration(hc.getTimeoutMillis()));
        add(out, "health_check.failure_threshold", Integer.toString(hc.getFailureThreshold()));
        add(out, "health_check.recovery_threshold", Integer.toString(hc.getRecoveryThreshold()));
        var lb = s.getLoadBalancer();
        add(out, "load_balancer.algorithm", lb.getAlgorithm());
        add(out, "load_balancer.read_timeout", duration(lb.getStatementReadTimeoutMillis()));
        add(out, "load_balancer.write_timeout", duration(lb.getStatementWriteTimeoutMillis()));
        add(out, "load_balancer.max_replica_lag", Units.formatSize(lb.getMaxReplicaLagBytes()));
        var f = s.getFailover();
        add(out, "failover.maximum_lag_on_failover", Units.formatSize(f.getMaximumLagOnFailoverBytes()));
        add(out, "failover.cooldown", duration(f.getCooldownMillis()));
        add(out, "failover.lease", duration(f.getLeaseMillis()));
        var r = s.getReplication();
        add(out, "replication.mode", r.getMode());
        add(out, "replication.sync_standbys", Integer.toString(r.getSyncStandbys()));
        var j = s.getRejoin();
        add(out, "rejoin.auto", Boolean.toString(!j.getManual()));
        add(out, "rejoin.method", j.getMethod().isEmpty() ? RejoinConfig.DEFAULT.method() : j.getMethod());
        return out;
    }

    private static String duration(long millis) {
        return millis == 0 ? "0" : Units.formatDuration(Duration.ofMillis(millis));
    }

    private static void add(List<Setting> out, String key, String value) {
        out.add(Setting.newBuilder().setKey(key).setValue(value).build());
    }
}

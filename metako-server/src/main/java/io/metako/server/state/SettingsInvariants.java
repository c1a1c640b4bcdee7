package io.metako.server.state;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.ClusterState;
import java.util.ArrayList;
import java.util.List;

/**
 * What every instance checks when it applies new cluster-wide settings, whoever proposed them: the few numeric
 * rules the safety of a running cluster rests on. The proposer checks much more (the configuration file's rules,
 * with messages for people: {@code config.SettingsChange}); these are part of the log's meaning, so they must never
 * change, or an entry would apply differently when replayed by a newer version than it did when it was committed.
 * Add a rule only for entries of a new command version. Pure.
 */
final class SettingsInvariants {
    private SettingsInvariants() {
    }

    static List<String> problems(ClusterState state, ClusterSettings next) {
        List<String> out = new ArrayList<>();
        ClusterSettings current = state.getSettings();
        var hc = next.getHealthCheck();
        if (hc.getIntervalMillis() <= 0 || hc.getTimeoutMillis() <= 0 || hc.getTimeoutMillis() > hc.getIntervalMillis()) {
            out.add("health_check: the interval and timeout must be positive, the timeout at most the interval");
        }
        if (hc.getFailureThreshold() < 1 || hc.getRecoveryThreshold() < 1) {
            out.add("health_check: the thresholds must be at least 1");
        }
        long oldLease = current.getFailover().getLeaseMillis();
        if (next.getFailover().getLeaseMillis() <= 0 || next.getFailover().getLeaseMillis() < oldLease) {
            out.add("failover.lease: must be positive and may not be shortened on a running cluster");
        }
        String oldMode = current.getReplication().getMode();
        String mode = next.getReplication().getMode();
        if (!mode.equals("async") && !mode.equals("sync")) {
            out.add("replication.mode: must be async or sync");
        }
        boolean wasSync = "sync".equals(oldMode);
        boolean isSync = "sync".equals(mode);
        if (isSync && next.getReplication().getSyncStandbys() < 1) {
            out.add("replication.sync_standbys: must be at least 1");
        }
        if (wasSync && isSync && next.getReplication().getSyncStandbys() > current.getReplication().getSyncStandbys()) {
            out.add("replication.sync_standbys: may not be raised while replication.mode is sync");
        }
        if (!wasSync && isSync && state.getSynchronousStandbysCount() > 0) {
            out.add("replication.mode: may not return to sync while the last synchronous set is still replicated");
        }
        return out;
    }
}

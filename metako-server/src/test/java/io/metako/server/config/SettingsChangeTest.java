package io.metako.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.Setting;
import io.metako.proto.v1.SettingChange;
import io.metako.server.SeedFactory;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class SettingsChangeTest {
    /** The settings ConfigLoaderTest.VALID seeds: interval 1s, least_connections, async, ... */
    static ClusterSettings current() {
        return SeedFactory.seedOf(ConfigLoaderTest.parse(ConfigLoaderTest.VALID)).getSettings();
    }

    static List<Setting> set(String... assignments) {
        return Arrays.stream(assignments).map(a -> Setting.newBuilder().setKey(a.substring(0, a.indexOf('=')))
                .setValue(a.substring(a.indexOf('=') + 1)).build()).toList();
    }

    static SettingChange change(String key, String old, String now) {
        return SettingChange.newBuilder().setKey(key).setOldValue(old).setNewValue(now).build();
    }

    @Test
    void aSetChangesTheNamedKeysAndNothingElse() {
        SettingsChange c = SettingsChange.set(current(), set("health_check.interval=250ms", "health_check.timeout=200ms",
                "load_balancer.algorithm=round_robin", "rejoin.auto=false", "load_balancer.read_timeout=2s"), 3);
        assertThat(c.changes()).containsExactly(change("health_check.interval", "1s", "250ms"),
                change("health_check.timeout", "500ms", "200ms"),
                change("load_balancer.algorithm", "least_connections", "round_robin"),
                change("load_balancer.read_timeout", "0", "2s"), change("rejoin.auto", "true", "false"));
        assertThat(c.settings().getHealthCheck().getIntervalMillis()).isEqualTo(250);
        assertThat(c.settings().getLoadBalancer().getStatementReadTimeoutMillis()).isEqualTo(2000);
        assertThat(c.settings().getRejoin().getManual()).isTrue();
        assertThat(c.settings().getFailover()).isEqualTo(current().getFailover());
    }

    @Test
    void everyKeySetToItsOwnValueChangesNothing() {
        List<Setting> same = ClusterSettingsKeys.of(current());
        SettingsChange c = SettingsChange.set(current(), same, 3);
        assertThat(c.changes()).isEmpty();
        assertThat(ClusterSettingsKeys.of(c.settings())).isEqualTo(same);
    }

    @Test
    void theSeedsSpellingIsAccepted() {
        ClusterSettings rr = SettingsChange.set(current(), set("load_balancer.algorithm=round_robin"), 3).settings();
        assertThat(SettingsChange.set(rr, set("load_balancer.algorithm=least_connected"), 3).changes())
                .containsExactly(change("load_balancer.algorithm", "round_robin", "least_connections"));
    }

    @Test
    void everyProblemIsReportedAtOnceWithItsKey() {
        assertThatThrownBy(() -> SettingsChange.set(current(), set("health_check.interval=abc",
                "health_check.failure_threshold=0", "load_balancer.algorithm=random", "healthcheck.interval=1s",
                "proxy.port=6432", "load_balancer.max_replica_lag=[1, 2]", "failover.lease=1s"), 3))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).hasSize(7).anySatisfy(p ->
                        assertThat(p).startsWith("failover.lease: cannot be shortened")).anySatisfy(p ->
                        assertThat(p).startsWith("health_check.interval:")).anySatisfy(p ->
                        assertThat(p).startsWith("health_check.failure_threshold:")).anySatisfy(p ->
                        assertThat(p).startsWith("load_balancer.algorithm:").contains("got 'random'")).anySatisfy(p ->
                        assertThat(p).startsWith("healthcheck.interval:").contains("did you mean 'health_check.interval'"))
                        .anySatisfy(p -> assertThat(p).startsWith("proxy.port:").contains("metakoctl reload"))
                        .anySatisfy(p -> assertThat(p).startsWith("load_balancer.max_replica_lag:")
                                .contains("single value")));
    }

    @Test
    void theFilesCrossChecksHold() {
        assertThatThrownBy(() -> SettingsChange.set(current(), set("health_check.timeout=5s"), 3))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                        .asString().startsWith("health_check.timeout: must not exceed interval"));
        assertThatThrownBy(() -> SettingsChange.set(current(), set("replication.mode=sync", "replication.sync_standbys=3"), 3))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                        .asString().contains("only 2 replica(s)"));
    }

    @Test
    void aShorterLeaseIsRefusedALongerOneApplies() {
        assertThat(SettingsChange.set(current(), set("failover.lease=10s"), 3).settings().getFailover().getLeaseMillis())
                .isEqualTo(10_000);
        assertThatThrownBy(() -> SettingsChange.set(current(), set("failover.lease=1s"), 3))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement().asString()
                        .startsWith("failover.lease: cannot be shortened on a running cluster"));
    }

    @Test
    void aValueThatDoesNotReadIsReportedAsSuchNotAsAChangeOfItsDefault() {
        ClusterSettings longLease = SettingsChange.set(current(), set("failover.lease=10s"), 3).settings();
        assertThatThrownBy(() -> SettingsChange.set(longLease, set("failover.lease=abc"), 3))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement().asString()
                        .startsWith("failover.lease: must be a duration").doesNotContain("shortened"));
    }

    @Test
    void moreSynchronousStandbysAreRefusedInSyncModeOnly() {
        ClusterSettings sync = SettingsChange.set(current(), set("replication.mode=sync"), 4).settings();
        assertThatThrownBy(() -> SettingsChange.set(sync, set("replication.sync_standbys=2"), 4))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement().asString()
                        .contains("set replication.mode=async, then replication.mode=sync"));
        ClusterSettings two = SettingsChange.set(current(), set("replication.mode=sync", "replication.sync_standbys=2"), 4)
                .settings();
        assertThat(SettingsChange.set(two, set("replication.sync_standbys=1"), 4).changes())
                .containsExactly(change("replication.sync_standbys", "2", "1"));
    }

    @Test
    void anEditedDocumentReplacesTheSectionsAndAMissingKeyTakesItsDefault() {
        SettingsChange c = SettingsChange.replace(current(), """
                # comment
                health_check:
                  interval: 2s
                load_balancer:
                  algorithm: least_connections
                failover:
                  lease: 5s
                """, 3);
        assertThat(c.settings().getHealthCheck().getIntervalMillis()).isEqualTo(2000);
        assertThat(c.changes()).extracting(SettingChange::getKey).contains("health_check.interval")
                .doesNotContain("load_balancer.algorithm");
        assertThatThrownBy(() -> SettingsChange.replace(current(), "nodes: []\nhealth_check: {interval: 1s}\n"
                + "replication: {passfile: /x}\n", 3)).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).anySatisfy(p -> assertThat(p).startsWith("nodes: is not changed here: metakoctl node add"))
                        .anySatisfy(p -> assertThat(p).startsWith("replication.passfile: is instance-local")));
        assertThatThrownBy(() -> SettingsChange.replace(current(), "health_check: [1]\n", 3))
                .isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> SettingsChange.replace(current(), "health_check:\n  interval: 1s\n interval: 2s", 3))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.getMessage()).contains("YAML"));
    }

    @Test
    void oddValuesReadBackAsTheyWereSetSoEveryInstanceRecomputesTheSameSettings() {
        SettingsChange c = SettingsChange.set(current(), set("health_check.interval=1234ms", "health_check.timeout=1001ms",
                "load_balancer.max_replica_lag=1000", "failover.maximum_lag_on_failover=1500kB", "failover.cooldown=90s",
                "failover.lease=2500ms", "load_balancer.read_timeout=1500ms"), 3);
        SettingsChange again = SettingsChange.set(c.settings(), ClusterSettingsKeys.of(c.settings()), 3);
        assertThat(again.settings()).isEqualTo(c.settings());
        assertThat(again.changes()).isEmpty();
    }

    @Test
    void syncModeWaitsUntilTheLastSynchronousSetIsCleared() {
        assertThatThrownBy(() -> SettingsChange.set(current(), List.of("pg-2"), set("replication.mode=sync",
                "replication.sync_standbys=2"), 4)).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).singleElement().asString().startsWith("replication.mode: cannot return to sync"));
        assertThat(SettingsChange.set(current(), List.of(), set("replication.mode=sync", "replication.sync_standbys=2"), 4)
                .settings().getReplication().getSyncStandbys()).isEqualTo(2);
    }
}

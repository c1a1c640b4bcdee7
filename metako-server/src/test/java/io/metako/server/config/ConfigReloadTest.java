package io.metako.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.proto.v1.ClusterState;
import io.metako.server.SeedFactory;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ConfigReloadTest {
    static final String BASE = ConfigLoaderTest.VALID + """
            proxy:
              port: 6432
              users:
                - name: app
                  password: old-app-password
            logging:
              status_interval: 30s
            """;

    @Test
    void liveKeysApplyTheRestIsListedForTheNextStart() {
        MetakoConfig running = ConfigLoaderTest.parse(BASE);
        MetakoConfig file = ConfigLoaderTest.parse(BASE.replace("old-app-password", "new-app-password")
                .replace("  port: 6432", "  port: 6433").replace("status_interval: 30s", "status_interval: 30s\n  level: debug")
                .replace("    password: ${PG_PASSWORD}\nhealth_check:", "    password: other-node-password\nhealth_check:")
                .replace("  interval: 1s", "  interval: 2s"));
        ConfigReload r = ConfigReload.of(running, file);
        assertThat(r.applied()).containsExactly("proxy.users", "nodes.pg-2.password", "logging.level");
        assertThat(r.restart()).containsExactly("proxy.port");
        MetakoConfig next = r.config();
        assertThat(next.proxy().users().get(0).password().reveal()).isEqualTo("new-app-password");
        assertThat(next.proxy().port()).as("still the port it listens on").isEqualTo(6432);
        assertThat(next.node("pg-2").orElseThrow().password().reveal()).isEqualTo("other-node-password");
        assertThat(next.logging()).isEqualTo(new LoggingConfig(Duration.ofSeconds(30), "debug"));
        assertThat(next.healthCheck().interval()).as("the file's, for drift: never applied").isEqualTo(Duration.ofSeconds(2));
        assertThat(r.toString()).doesNotContain("new-app-password", "other-node-password");
    }

    @Test
    void anUnchangedFileChangesNothing() {
        MetakoConfig c = ConfigLoaderTest.parse(BASE);
        ConfigReload r = ConfigReload.of(c, ConfigLoaderTest.parse(BASE));
        assertThat(r.applied()).isEmpty();
        assertThat(r.restart()).isEmpty();
        assertThat(r.config()).isEqualTo(c);
    }

    @Test
    void theFilesClusterWideKeysAndNodesThatDifferFromTheClustersAreDrift() {
        MetakoConfig seeded = ConfigLoaderTest.parse(BASE);
        ClusterState state = ClusterState.newBuilder().setSeeded(true).setSettings(SeedFactory.seedOf(seeded).getSettings())
                .addAllNodes(SeedFactory.seedOf(seeded).getNodesList()).build();
        assertThat(ConfigDrift.of(seeded, state)).isEmpty();
        assertThat(ConfigDrift.of(seeded, ClusterState.getDefaultInstance())).as("nothing to differ from yet").isEmpty();
        MetakoConfig file = ConfigLoaderTest.parse(BASE.replace("  interval: 1s", "  interval: 2s")
                .replace("port: 5433", "port: 5434").replace("algorithm: least_connected", "algorithm: round_robin"));
        ClusterState withThird = state.toBuilder().addNodes(state.getNodes(0).toBuilder().setName("pg-3")).build();
        assertThat(ConfigDrift.of(file, withThird)).containsExactly(
                "health_check.interval: this instance's file says 2s, the cluster uses 1s (metakoctl config set changes"
                        + " the cluster's)",
                "load_balancer.algorithm: this instance's file says round_robin, the cluster uses least_connections"
                        + " (metakoctl config set changes the cluster's)",
                "nodes.pg-2: this instance's file says 127.0.0.1:5434, the cluster uses 127.0.0.1:5433",
                "nodes.pg-3: in the cluster, not in this instance's file (this instance has no credentials for it)");
    }

    @Test
    void theLogLevelIsChecked() {
        assertThat(ConfigLoaderTest.parse(BASE).logging().level()).as("as the logging configuration has it").isEmpty();
        assertThat(ConfigLoaderTest.parse(BASE.replace("status_interval: 30s", "status_interval: 30s\n  level: WARN"))
                .logging().level()).isEqualTo("warn");
        assertThatThrownBy(() -> ConfigLoaderTest.parse(BASE.replace("status_interval: 30s",
                "status_interval: 30s\n  level: loud"))).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).containsExactly("logging.level: must be one of error, warn, info, debug, trace,"
                        + " got 'loud'"));
    }
}

package io.metako.server.config;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.Setting;
import io.metako.server.SeedFactory;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class ClusterSettingsKeysTest {
    @Test
    void theReplicatedSettingsReadAsTheFileWroteThem() {
        MetakoConfig c = ConfigLoaderTest.parse(ConfigLoaderTest.VALID);
        Map<String, String> keys = ClusterSettingsKeys.of(SeedFactory.seedOf(c).getSettings()).stream()
                .collect(Collectors.toMap(Setting::getKey, Setting::getValue));
        assertThat(keys).containsEntry("health_check.interval", "1s").containsEntry("load_balancer.algorithm",
                        "least_connections").containsEntry("load_balancer.read_timeout", "0")
                .containsEntry("replication.mode", "async").containsEntry("rejoin.auto", "true")
                .containsEntry("rejoin.method", "rewind_or_clone").containsKey("failover.lease")
                .containsKey("load_balancer.max_replica_lag").hasSize(15);
    }
}

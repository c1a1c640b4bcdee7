package io.metako.client.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.GetSettingsResponse;
import io.metako.proto.v1.Setting;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigCommandTest {
    private static Setting s(String key, String value) {
        return Setting.newBuilder().setKey(key).setValue(value).build();
    }

    @Test
    void showPrintsTheFilesYamlSectionBySection() {
        GetSettingsResponse r = GetSettingsResponse.newBuilder().addSettings(s("health_check.interval", "1s"))
                .addSettings(s("health_check.timeout", "2s")).addSettings(s("replication.mode", "sync")).build();
        assertThat(ConfigCommand.yaml(r)).isEqualTo("health_check:\n  interval: 1s\n  timeout: 2s\nreplication:\n  mode: sync\n");
    }

    @Test
    void aMistypedKeyGetsTheNearestOne() {
        List<Setting> all = List.of(s("health_check.interval", "1s"), s("failover.lease", "2s"));
        assertThat(ConfigCommand.nearest("health_check.intervl", all)).isEqualTo("; did you mean 'health_check.interval'?");
        assertThat(ConfigCommand.nearest("proxy.port", all)).isEmpty();
    }
}

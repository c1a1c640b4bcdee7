package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Verdict;
import io.metako.server.pg.LocalPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** One instance cut off from the primary while the others still reach it: no failover. */
class PartitionIT {
    private static final Duration CONVERGE = Duration.ofSeconds(60);


    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void anInstanceCutOffFromThePrimaryCausesNoFailover() throws Exception {
        try (Quorum q = Quorum.start("500ms", "2s")) {
            LocalPostgres pg1 = q.cluster.nodes().get(0);
            try (TcpRelay relay = new TcpRelay(pg1.host(), pg1.port())) {
                // metako-3 reaches pg-1 only through the relay (an instance-local address override)
                q.stopInstance(2);
                Path config = q.configs.get(2);
                Files.writeString(config, Files.readString(config).replace("  auth_token_file:",
                        "  node_addresses:\n    pg-1: 127.0.0.1:" + relay.port() + "\n  auth_token_file:"));
                q.startInstance(2);
                await().atMost(CONVERGE).untilAsserted(() -> {
                    ClusterStatus s = q.status(2);
                    assertThat(Quorum.node(s, "pg-1").getHealth()).isEqualTo(MajorityHealth.HEALTHY);
                    assertThat(Quorum.node(s, "pg-1").getObservation().getReachable()).isTrue();
                    assertThat(s.getPrimary()).isEqualTo("pg-1");
                });

                relay.blackhole();
                await().atMost(CONVERGE).untilAsserted(() -> {
                    ClusterStatus s = q.status(0);
                    assertThat(Quorum.node(s, "pg-1").getVerdictsList()).anyMatch(v -> v.getInstanceId().equals("metako-3")
                            && v.getVerdict() == Verdict.DOWN);
                });
                long detection = 3 * 500; // failure_threshold probes of the interval
                Thread.sleep(3 * detection);
                for (int i = 0; i < 3; i++) {
                    ClusterStatus s = q.status(i);
                    assertThat(s.getEpoch()).as("no failover").isEqualTo(1);
                    assertThat(s.getPrimary()).isEqualTo("pg-1");
                    assertThat(Quorum.node(s, "pg-1").getHealth()).isEqualTo(MajorityHealth.HEALTHY);
                    assertThat(s.getControllerSentence()).isEqualTo("waiting: pg-1 down for 1/3 instances");
                }
                assertThat(Quorum.node(q.status(2), "pg-1").getObservation().getError()).isNotEmpty();

                relay.heal();
                await().atMost(CONVERGE).untilAsserted(() -> {
                    ClusterStatus s = q.status(0);
                    assertThat(Quorum.node(s, "pg-1").getVerdictsList()).allMatch(v -> v.getVerdict() == Verdict.UP);
                    assertThat(s.getControllerSentence()).isEqualTo("no action: pg-1 is primary at epoch 1");
                });
            }
        }
    }

}

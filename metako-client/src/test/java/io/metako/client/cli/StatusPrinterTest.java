package io.metako.client.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.ProxyBackendConnections;
import io.metako.proto.v1.ProxyStatus;
import org.junit.jupiter.api.Test;

class StatusPrinterTest {
    private static ClusterStatus.Builder base() {
        return ClusterStatus.newBuilder().setClusterName("demo").setAnsweredBy("metako-2").setEpoch(3).setPrimary("pg-1");
    }

    @Test
    void theAnsweringInstancesProxyIsOneLineWithItsConnectionsPerNode() {
        ClusterStatus s = base().setProxy(ProxyStatus.newBuilder().setClientSessions(8)
                .addBackends(ProxyBackendConnections.newBuilder().setNode("pg-1").setInUse(2).setKept(5))
                .addBackends(ProxyBackendConnections.newBuilder().setNode("pg-2").setInUse(6))).build();

        assertThat(StatusPrinter.status(s)).contains(
                "proxy on metako-2: 8 client sessions; backend connections: pg-1 2 in use + 5 kept, pg-2 6 in use + 0 kept\n");
        assertThat(StatusPrinter.json(s)).contains("\"client_sessions\": 8", "\"kept\": 5");
    }

    @Test
    void anIdleProxySaysSoAndAnInstanceWithoutOneShowsNoProxyLine() {
        ClusterStatus idle = base().setProxy(ProxyStatus.newBuilder().setClientSessions(1)).build();
        assertThat(StatusPrinter.status(idle)).contains("proxy on metako-2: 1 client session; backend connections: none\n");

        assertThat(StatusPrinter.status(base().build())).doesNotContain("proxy on");
    }
}

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

    private static io.metako.proto.v1.NodeStatus quarantined(String name, io.metako.proto.v1.NodeRejoin.Builder r, String manager) {
        return io.metako.proto.v1.NodeStatus.newBuilder().setNode(io.metako.proto.v1.Node.newBuilder().setName(name)
                .setRole(io.metako.proto.v1.NodeRole.QUARANTINED).setManagingInstance(manager).setRejoin(r)).build();
    }

    @Test
    void everyQuarantinedNodeSaysHowItsRejoinGoes() {
        var attempt = io.metako.proto.v1.NodeRejoin.newBuilder().setAttempt(2).setEpoch(3).setMethod("rewind_or_clone")
                .setSource("pg-1").setStartedMillis(10_000);
        ClusterStatus s = base()
                .addNodes(quarantined("pg-2", attempt.clone(), "metako-2"))
                .addNodes(quarantined("pg-3", attempt.clone().setFinishedMillis(10_650).setDoneBy("pg_rewind"), "metako-3"))
                .addNodes(quarantined("pg-4", attempt.clone().setFinishedMillis(10_650).setError("pg_rewind failed: no WAL"),
                        "metako-4"))
                .addNodes(quarantined("pg-5", attempt.clone().setEpoch(2), ""))
                .build();
        assertThat(StatusPrinter.rejoins(s, 14_500)).isEqualTo("""
                rejoin pg-2: attempt 2 (rewind_or_clone) from pg-1, running for 4s (managed by metako-2)
                rejoin pg-3: attempt 2: restarted as a replica by pg_rewind in 650 ms; waiting to see it stream from pg-1
                rejoin pg-4: attempt 2 FAILED: pg_rewind failed: no WAL
                rejoin pg-5: none running (no managing instance)
                """);
        assertThat(StatusPrinter.oneLine(s)).contains("pg-2=quarantined+rejoining/", "pg-4=quarantined/",
                "pg-5=quarantined/");
        assertThat(StatusPrinter.rejoins(base().build(), 0)).isEmpty();
    }

    @Test
    void theHistorySaysHowLongEachChangeTook() {
        var h = io.metako.proto.v1.GetHistoryResponse.newBuilder()
                .addEvents(io.metako.proto.v1.TopologyEvent.newBuilder().setKind(io.metako.proto.v1.EventKind.REJOIN)
                        .setStartedMillis(1_000).setTimeMillis(3_450).setEpoch(2).setNode("pg-1").setNewPrimary("pg-2")
                        .setReason("pg-1 rejoined pg-2 by pg_rewind (attempt 1)"))
                .build();
        String table = StatusPrinter.history(h);
        assertThat(table).contains("TOOK").contains("REJOIN").contains("2450 ms").contains("pg-1 rejoined pg-2 by pg_rewind");
    }
}

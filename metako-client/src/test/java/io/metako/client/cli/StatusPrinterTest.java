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

    private static ProxyStatus counted(int sessions, long reads, long writes, long other, long failures, String node) {
        return ProxyStatus.newBuilder().setClientSessions(sessions).setStatements(reads + writes + other).setReads(reads)
                .setWrites(writes).setFailures(failures).addNodes(io.metako.proto.v1.ProxyNodeStatements.newBuilder()
                        .setNode(node).setStatements(reads + writes + other).setReads(reads).setWrites(writes)
                        .setFailures(failures)).build();
    }

    @Test
    void theStatementsTheProxyCarriedAreOneLineWithTheirNodes() {
        ClusterStatus s = base().setProxy(counted(2, 90, 8, 2, 1, "pg-1")).build();
        assertThat(StatusPrinter.status(s)).contains("statements on metako-2: 100 (reads 90, writes 8, other 2),"
                + " failures 1; pg-1 100 (90 r, 8 w, 1 failed)\n");
    }

    @Test
    void statsShowEachInstanceTheTotalsAndTheNodes() {
        String t = StatusPrinter.stats(java.util.List.of(
                new StatusPrinter.InstanceStats("10.0.0.11:7101", "metako-1", counted(2, 90, 8, 2, 1, "pg-1"), null),
                new StatusPrinter.InstanceStats("10.0.0.12:7101", "metako-2", counted(1, 10, 2, 0, 0, "pg-1"), null),
                new StatusPrinter.InstanceStats("10.0.0.13:7101", "", null, "no instance answered\nmore")));
        assertThat(t.lines().toList()).anySatisfy(l -> assertThat(l).matches("metako-1 +10.0.0.11:7101 +2 +100 +90 +8 +2 +1"))
                .anySatisfy(l -> assertThat(l).matches("total +3 +112 +100 +10 +2 +1"))
                .anySatisfy(l -> assertThat(l).matches("\\? +10.0.0.13:7101 +- +- +- +- +- +no answer: no instance answered"))
                .anySatisfy(l -> assertThat(l).matches("pg-1 +112 +100 +10 +1"));
        String json = StatusPrinter.statsJson(java.util.List.of(
                new StatusPrinter.InstanceStats("a:1", "metako-1", counted(2, 90, 8, 2, 1, "pg-1"), null),
                new StatusPrinter.InstanceStats("b:1", "", null, "down \"quoted\"")));
        assertThat(json).startsWith("[{\"endpoint\":\"a:1\",\"instance\":\"metako-1\",\"proxy\":{")
                .contains("\"reads\":\"90\"", "{\"endpoint\":\"b:1\",\"instance\":\"\",\"error\":\"down \\\"quoted\\\"\"}");
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

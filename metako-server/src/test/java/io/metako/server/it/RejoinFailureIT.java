package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeStatus;
import io.metako.server.pg.LocalPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.stream.Stream;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * With {@code rejoin.method: rewind}, an old primary pg_rewind cannot bring back (its WAL is gone) is never started:
 * the status says why and what to do, and {@code metakoctl reinit} clones it.
 */
class RejoinFailureIT extends QuorumScenario {
    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s", "async", true,
                (i, config) -> Files.writeString(config, Files.readString(config) + "rejoin:\n  method: rewind\n"));
    }

    @Test
    @Order(1)
    void aRewindThatCannotWorkIsReportedAndReinitClonesTheNode() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(0);
            assertThat(s.getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            assertThat(s.getSettings().getRejoin().getMethod()).isEqualTo("rewind");
        });
        try (Connection c = q.connect(0); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE kept (id int primary key)");
            st.execute("INSERT INTO kept VALUES (1)");
        }
        LocalPostgres pg1 = q.cluster.nodes().get(0);
        pg1.kill();
        try (Stream<Path> wal = Files.list(pg1.dataDir().resolve("pg_wal"))) {
            for (Path f : wal.filter(p -> p.getFileName().toString().matches("[0-9A-F]{24}")).toList()) {
                Files.delete(f);
            }
        }
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.status(1).getPrimary()).isIn("pg-2", "pg-3"));
        String primary = q.status(1).getPrimary();

        // the rewind fails; the status says so, and pg-1 is never started
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(2);
            assertThat(Quorum.node(s, "pg-1").getNode().getRejoin().getError()).contains("pg_rewind failed");
            assertThat(s.getControllerSentence()).contains("rejoin of pg-1 failed (attempt 1): ");
        });
        assertThat(pg1.status()).isEqualTo(LocalPostgres.Status.STOPPED);
        assertThat(Files.exists(pg1.nodeDir().resolve("data.metako-rejoin"))).as("half-written: the marker stays").isTrue();

        // asked again at once, it refuses to rewind over the interrupted rewind and says what to do
        try (MetakoClient c = q.client(0)) {
            assertThat(c.rejoin("pg-1").getMessage()).startsWith("rejoin (rewind) of pg-1");
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            var r = Quorum.node(q.status(0), "pg-1").getNode().getRejoin();
            assertThat(r.getAttempt()).isEqualTo(2);
            assertThat(r.getError()).contains("its data directory may be half-written")
                    .contains("metakoctl reinit pg-1 clones it afresh");
        });
        assertThat(pg1.status()).isEqualTo(LocalPostgres.Status.STOPPED);

        try (MetakoClient c = q.client(1)) {
            assertThat(c.reinit("pg-1").getMessage()).startsWith("reinit (a fresh clone) of pg-1");
        }
        await().atMost(CONVERGE).untilAsserted(() -> {
            ClusterStatus s = q.status(0);
            assertThat(Quorum.node(s, "pg-1").getNode().getRole()).as(s.getControllerSentence()).isEqualTo(NodeRole.REPLICA);
        });
        var last = q.instances[0].state().getHistory(q.instances[0].state().getHistoryCount() - 1);
        assertThat(last.getReason()).isEqualTo("pg-1 rebuilt from " + primary + " by a fresh clone (attempt 3)");
        try (Connection c = q.connect(0); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM kept")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(1);
        }
    }
}

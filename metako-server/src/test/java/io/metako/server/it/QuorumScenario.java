package io.metako.server.it;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * An ordered scenario over one {@link Quorum} that its test methods share: the cluster starts
 * once before them and is stopped (every process) after them, even when one fails.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
abstract class QuorumScenario {
    static final Duration CONVERGE = Duration.ofSeconds(60);
    Quorum q;

    /** Starts this scenario's cluster (health interval, cooldown, replication mode as it needs). */
    abstract Quorum startQuorum() throws IOException;

    @BeforeAll
    void startCluster() throws IOException {
        q = startQuorum();
    }

    @AfterAll
    void stopCluster() {
        if (q != null) {
            q.close();
        }
    }

    /** Runs {@code sql} on node {@code node} (by index), as the superuser. */
    void execute(int node, String... sql) throws java.sql.SQLException {
        try (java.sql.Connection c = q.connect(node); java.sql.Statement st = c.createStatement()) {
            for (String s : sql) {
                st.execute(s);
            }
        }
    }

    /** Waits until node {@code node} (by index) has the row {@code id} of {@code table}. */
    void awaitRow(int node, String table, int id) {
        org.awaitility.Awaitility.await().atMost(CONVERGE).untilAsserted(() -> {
            try (java.sql.Connection c = q.connect(node); java.sql.Statement st = c.createStatement();
                 java.sql.ResultSet rs = st.executeQuery("SELECT count(*) FROM " + table + " WHERE id = " + id)) {
                rs.next();
                org.assertj.core.api.Assertions.assertThat(rs.getInt(1)).as("row " + id + " of " + table + " on pg-" + (node + 1))
                        .isEqualTo(1);
            }
        });
    }
}

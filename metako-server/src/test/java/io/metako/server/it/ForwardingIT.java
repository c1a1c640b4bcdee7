package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.server.demo.LocalCluster;
import java.io.IOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** proxy.rw_port / ro_port with pgjdbc through real instances, across a failover. */
class ForwardingIT extends QuorumScenario {

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s");
    }

    private Connection through(int instance, boolean rw) throws SQLException {
        LocalCluster.InstanceSpec spec = q.cluster.instances().get(instance);
        int port = rw ? spec.rwPort() : spec.roPort();
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?connectTimeout=15&socketTimeout=30",
                LocalCluster.SUPERUSER, q.cluster.password());
    }

    private static String where(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT inet_server_port(), pg_is_in_recovery()")) {
            rs.next();
            return rs.getInt(1) + (rs.getBoolean(2) ? "/replica" : "/primary");
        }
    }

    private int port(int node) {
        return q.cluster.nodes().get(node).port();
    }

    @Test
    @Order(1)
    void rwReachesThePrimaryAndRoAReplicaFromEveryInstance() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            for (var instance : q.instances) {
                assertThat(instance.routing().current().acceptsWrites()).isTrue();
                assertThat(instance.routing().current().replicas()).hasSize(2);
            }
        });
        Set<Integer> replicaPorts = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            try (Connection rw = through(i, true)) {
                assertThat(where(rw)).isEqualTo(port(0) + "/primary");
                rw.createStatement().execute("CREATE TABLE IF NOT EXISTS fwd (id int)");
                rw.createStatement().execute("INSERT INTO fwd VALUES (" + i + ")");
            }
            for (int k = 0; k < 2; k++) {
                try (Connection ro = through(i, false)) {
                    String w = where(ro);
                    assertThat(w).endsWith("/replica");
                    replicaPorts.add(Integer.parseInt(w.substring(0, w.indexOf('/'))));
                }
            }
        }
        assertThat(replicaPorts).as("round robin reaches both replicas").containsExactlyInAnyOrder(port(1), port(2));
    }

    @Test
    @Order(2)
    void aLargeResultStreamsThroughWithoutTrouble() throws Exception {
        try (Connection rw = through(1, true); Statement st = rw.createStatement()) {
            st.setFetchSize(0);
            try (ResultSet rs = st.executeQuery("SELECT repeat('x', 1000) FROM generate_series(1, 20000)")) {
                int rows = 0;
                while (rs.next()) {
                    rows++;
                }
                assertThat(rows).isEqualTo(20000);
            }
        }
    }

    @Test
    @Order(3)
    void afterAFailoverOldConnectionsAreClosedAndNewOnesReachTheNewPrimary() throws Exception {
        Connection old = through(0, true);
        assertThat(where(old)).isEqualTo(port(0) + "/primary");
        q.cluster.nodes().get(0).kill();
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(q.status(0).getEpoch()).isEqualTo(2);
            assertThat(q.status(0).getPrimary()).as("failover completed").isNotEmpty();
        });
        String newPrimary = q.status(0).getPrimary();
        int newPort = port(Integer.parseInt(newPrimary.substring(3)) - 1);
        assertThatThrownBy(() -> where(old)).as("the connection bound to the old primary is gone")
                .isInstanceOf(SQLException.class);
        old.close();
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                try (Connection rw = through(i, true)) {
                    assertThat(where(rw)).isEqualTo(newPort + "/primary");
                    rw.createStatement().execute("INSERT INTO fwd VALUES (100)");
                }
            }
        });
        try (Connection ro = through(2, false)) {
            assertThat(where(ro)).as("the only replica left").endsWith("/replica").doesNotStartWith(Integer.toString(newPort));
        }
    }
}

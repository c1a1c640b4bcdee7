package io.metako.server.it;

import io.metako.client.MetakoClient;
import io.metako.server.MetakoInstance;
import io.metako.server.config.ConfigLoader;
import io.metako.server.config.MetakoConfig;
import io.metako.server.demo.LocalCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Test fixture: a real PostgreSQL primary + 2 streaming replicas (made by our node-agent code)
 * and 3 metako instances in this JVM forming a real Ratis group over loopback.
 */
final class Quorum implements AutoCloseable {
    final LocalCluster cluster;
    final List<Path> configs;
    final MetakoInstance[] instances;

    private Quorum(LocalCluster cluster, List<Path> configs) {
        this.cluster = cluster;
        this.configs = configs;
        this.instances = new MetakoInstance[configs.size()];
    }

    static Quorum start(String healthInterval) throws IOException {
        return start(healthInterval, "30s");
    }

    static Quorum start(String healthInterval, String failoverCooldown) throws IOException {
        return start(healthInterval, failoverCooldown, "async");
    }

    static Quorum start(String healthInterval, String failoverCooldown, String replicationMode) throws IOException {
        return start(healthInterval, failoverCooldown, replicationMode, (i, config) -> { });
    }

    /** Likewise, with each instance's config file changed by {@code edit} (its index, its path) before it starts. */
    static Quorum start(String healthInterval, String failoverCooldown, String replicationMode,
                        ConfigEdit edit) throws IOException {
        return start(healthInterval, failoverCooldown, replicationMode, false, edit);
    }

    /**
     * Likewise; {@code managed}: instance i manages node i ({@code instance.manages}), so a quarantined old primary
     * rejoins on its own. Off elsewhere: those tests drive the nodes themselves (restart an old primary as-is).
     */
    static Quorum start(String healthInterval, String failoverCooldown, String replicationMode, boolean managed,
                        ConfigEdit edit) throws IOException {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "metako-it-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        LocalCluster cluster = LocalCluster.plan(dir, 3, 3, s -> System.out.println("[fixture] " + s));
        if (!managed) {
            cluster.withoutNodeManagers();
        }
        Quorum q = new Quorum(cluster, List.of());
        try {
            cluster.startPostgres();
            q = new Quorum(cluster, cluster.writeConfigs(healthInterval, failoverCooldown, replicationMode));
            for (int i = 0; i < q.configs.size(); i++) {
                edit.apply(i, q.configs.get(i));
            }
            for (int i = 0; i < q.instances.length; i++) {
                q.startInstance(i);
            }
            return q;
        } catch (IOException | RuntimeException e) {
            q.close();
            throw e;
        }
    }

    /** A change to one instance's config file before it starts. */
    interface ConfigEdit {
        void apply(int instance, Path config) throws IOException;
    }

    MetakoConfig config(int i) {
        return ConfigLoader.withSystemEnv().load(configs.get(i));
    }

    void startInstance(int i) throws IOException {
        MetakoInstance instance = new MetakoInstance(config(i), configs.get(i), Clock.systemUTC());
        instance.start();
        instances[i] = instance;
    }

    void stopInstance(int i) {
        if (instances[i] != null) {
            instances[i].close();
            instances[i] = null;
        }
    }

    /** Index of the instance that leads the Raft group now, or -1. */
    int leaderIndex() {
        for (int i = 0; i < instances.length; i++) {
            if (instances[i] != null && instances[i].raft().isLeader()) {
                return i;
            }
        }
        return -1;
    }

    MetakoClient client(String token, String... endpoints) {
        return new MetakoClient(List.of(endpoints), token, Duration.ofSeconds(3));
    }

    MetakoClient client(int i) {
        return client(cluster.token(), cluster.instances().get(i).grpc());
    }

    Connection connect(int node) throws SQLException {
        return DriverManager.getConnection(cluster.jdbcUrl(cluster.nodes().get(node)), LocalCluster.SUPERUSER,
                cluster.password());
    }

    /** {@code synchronous_standby_names} as node {@code node} (by index) reports it. */
    String synchronousStandbyNames(int node) throws SQLException {
        try (Connection c = connect(node); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("SHOW synchronous_standby_names")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** The {@code id} column of {@code table} on node {@code node} (by index). */
    java.util.Set<Integer> ids(int node, String table) throws SQLException {
        java.util.Set<Integer> present = new java.util.HashSet<>();
        try (Connection c = connect(node); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("SELECT id FROM " + table)) {
            while (rs.next()) {
                present.add(rs.getInt(1));
            }
        }
        return present;
    }

    /** A node's entry in a status; missing (not seeded yet) is an assertion failure, so awaits retry. */
    static io.metako.proto.v1.NodeStatus node(io.metako.proto.v1.ClusterStatus s, String name) {
        return s.getNodesList().stream().filter(n -> n.getNode().getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no node " + name + " in the status (not seeded yet?)"));
    }

    /** The status as instance {@code i} answers it over gRPC. */
    io.metako.proto.v1.ClusterStatus status(int i) {
        try (io.metako.client.MetakoClient c = client(i)) {
            return c.status();
        }
    }

    @Override
    public void close() {
        List<Thread> stoppers = new ArrayList<>();
        for (int i = 0; i < instances.length; i++) {
            int k = i;
            Thread t = new Thread(() -> stopInstance(k));
            t.start();
            stoppers.add(t);
        }
        for (Thread t : stoppers) {
            try {
                t.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        cluster.close();
        deleteQuietly(cluster.dir());
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a leftover temp folder is harmless
        }
    }
}

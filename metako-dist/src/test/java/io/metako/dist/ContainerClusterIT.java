package io.metako.dist;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.dockerjava.api.DockerClient;
import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeRole;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.lifecycle.Startables;

/**
 * The container image of {@code deploy/docker}, built from the release archive, in a real Docker engine: three
 * containers, each a PostgreSQL node and the metako instance that manages it, on a private network. A client
 * writes through a proxy while the primary's container is killed (a failover, writes go on) and started again
 * (its node comes back as a replica on its own), and no acknowledged write is lost.
 */
class ContainerClusterIT {
    private static final String TOKEN = "container-it-token-0123456789";
    private static final String APP_PASSWORD = "app-secret";
    private static final List<String> IDS = List.of("metako-1", "metako-2", "metako-3");

    private Network network;
    private final List<GenericContainer<?>> containers = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        Assumptions.assumeTrue(DockerClientFactory.instance().isDockerAvailable(),
                "no Docker engine answers (.ci/run starts one: apt-get install docker.io, dockerd --storage-driver=vfs)");
        ImageFromDockerfile image = ProductImage.image();
        network = Network.newNetwork();
        for (String id : IDS) {
            GenericContainer<?> c = new GenericContainer<>(image).withNetwork(network).withNetworkAliases(id)
                    .withCreateContainerCmdModifier(cmd -> {
                        cmd.withHostName(id);
                        cmd.getHostConfig().withInit(true);
                    })
                    .withEnv("METAKO_ID", id).withEnv("METAKO_MEMBERS", String.join(",", IDS))
                    .withEnv("METAKO_TOKEN", TOKEN).withEnv("PG_PASSWORD", "pg-secret")
                    .withEnv("APP_PASSWORD", APP_PASSWORD).withEnv("METAKO_HEALTH_INTERVAL", "500ms")
                    .withExposedPorts(6432, 7200).withStartupAttempts(1)
                    .waitingFor(Wait.forLogMessage(".*instance " + id + " started.*", 1)
                            .withStartupTimeout(Duration.ofMinutes(5)));
            containers.add(c);
        }
        Startables.deepStart(containers.stream()).join();
    }

    @AfterEach
    void stop() {
        for (GenericContainer<?> c : containers) {
            try {
                c.stop();
            } catch (RuntimeException ignored) {
                // removed already
            }
        }
        if (network != null) {
            network.close();
        }
    }

    @Test
    void aKilledPrimaryContainerFailsOverWritesGoOnAndItComesBackAsAReplica() throws Exception {
        ClusterStatus settled = awaitStatus(s -> s.getEpoch() == 1 && s.getHoldsLease() && allHealthy(s),
                Duration.ofMinutes(2), 0, 1, 2);
        assertThat(settled.getPrimary()).isEqualTo("pg-1");
        int primary = IDS.indexOf("metako-1");
        int through = 2; // the proxy of metako-3
        try (Connection c = connect(through)) {
            c.createStatement().execute("CREATE TABLE acked (id int PRIMARY KEY)");
        }
        Writer writer = new Writer(through).start();
        awaitAcks(writer, 20);

        DockerClient docker = DockerClientFactory.instance().client();
        String killedId = containers.get(primary).getContainerId();
        docker.killContainerCmd(killedId).exec(); // SIGKILL of the whole container: node and instance
        ClusterStatus failedOver = awaitStatus(s -> s.getEpoch() >= 2 && !s.getPrimary().isEmpty()
                && !s.getPrimary().equals("pg-1") && s.getHoldsLease(), Duration.ofMinutes(1), 1, 2);
        int before = writer.acked.size();
        awaitAcks(writer, before + 20);
        assertThat(failedOver.getNodesList()).anySatisfy(n -> {
            assertThat(n.getNode().getName()).isEqualTo("pg-1");
            assertThat(n.getNode().getRole()).isEqualTo(NodeRole.QUARANTINED);
        });

        docker.startContainerCmd(killedId).exec(); // its entrypoint starts the old primary as it was
        ClusterStatus healed = awaitStatus(s -> s.getNodesList().stream().anyMatch(n -> n.getNode().getName().equals("pg-1")
                && n.getNode().getRole() == NodeRole.REPLICA && n.getHealth() == MajorityHealth.HEALTHY),
                Duration.ofMinutes(3), 1, 2);
        writer.stop();
        assertThat(writer.acked).isNotEmpty();
        int newPrimary = IDS.indexOf("metako-" + healed.getPrimary().substring("pg-".length()));
        Set<Integer> present = new HashSet<>();
        try (Connection c = connect(newPrimary); ResultSet rs = c.createStatement().executeQuery("/* metako:primary */ SELECT id FROM acked")) {
            while (rs.next()) {
                present.add(rs.getInt(1));
            }
        }
        assertThat(present).as("every acknowledged write, after the failover and the old primary's rejoin")
                .containsAll(writer.acked);
    }

    /**
     * Every container stopped (SIGTERM, as an upgrade does) and started again, one at a time, the next one only once
     * all three nodes are healthy again, while a client writes through whichever proxy answers.
     */
    @Test
    void aRollingRestartOfEveryContainerLosesNoAcknowledgedWrite() throws Exception {
        awaitStatus(s -> s.getHoldsLease() && allHealthy(s), Duration.ofMinutes(2), 0, 1, 2);
        try (Connection c = connect(0)) {
            c.createStatement().execute("CREATE TABLE acked (id int PRIMARY KEY)");
        }
        Writer writer = new Writer(0, true).start();
        awaitAcks(writer, 20);
        DockerClient docker = DockerClientFactory.instance().client();
        for (int i = 0; i < IDS.size(); i++) {
            String id = containers.get(i).getContainerId();
            docker.stopContainerCmd(id).withTimeout(30).exec();
            docker.startContainerCmd(id).exec();
            // the restarted instance itself answers again, holds its lease, and sees every node healthy in its role
            awaitStatus(s -> s.getHoldsLease() && allHealthy(s) && s.getNodesList().stream()
                    .noneMatch(n -> n.getNode().getRole() == NodeRole.QUARANTINED), Duration.ofMinutes(3), i);
            int before = writer.acked.size();
            awaitAcks(writer, before + 20);
        }
        writer.stop();
        ClusterStatus end = awaitStatus(s -> s.getHoldsLease() && allHealthy(s), Duration.ofMinutes(1), 0, 1, 2);
        Set<Integer> present = new HashSet<>();
        try (Connection c = connect(0);
             ResultSet rs = c.createStatement().executeQuery("/* metako:primary */ SELECT id FROM acked")) {
            while (rs.next()) {
                present.add(rs.getInt(1));
            }
        }
        assertThat(writer.acked).hasSizeGreaterThan(60);
        assertThat(present).as("every acknowledged write after restarting all three (primary %s at epoch %d)",
                end.getPrimary(), end.getEpoch()).containsAll(writer.acked);
    }

    /**
     * The primary's container cut off from the cluster's network: writes through its own proxy stop being
     * acknowledged within the lease (2 s) + 1 s, while the others fail over; once
     * connected again, the instance holds the lease of the new epoch and its node is back as a replica.
     */
    @Test
    void thePrimarysContainerCutOffStopsTakingWritesWithinALeaseAndCatchesUpWhenBack() throws Exception {
        ClusterStatus before = awaitStatus(s -> s.getHoldsLease() && allHealthy(s), Duration.ofMinutes(2), 0, 1, 2);
        int cut = IDS.indexOf("metako-" + before.getPrimary().substring("pg-".length()));
        try (Connection c = connect(cut)) {
            c.createStatement().execute("CREATE TABLE cut (id bigint PRIMARY KEY)");
        }
        GenericContainer<?> c = containers.get(cut);
        // inside the container, through its own router: one INSERT after another for 12 s, each capped at 2 s; the
        // wall-clock millisecond each one was acknowledged
        java.util.concurrent.CompletableFuture<org.testcontainers.containers.Container.ExecResult> writes =
                java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                    try {
                        return c.execInContainer("bash", "-c", "export PGPASSWORD=\"$APP_PASSWORD\" PGCONNECT_TIMEOUT=2; "
                                + "end=$(( $(date +%s) + 12 )); n=0; while [ $(date +%s) -lt $end ]; do n=$((n+1)); "
                                + "timeout 2 psql -qAtX -h 127.0.0.1 -p 6432 -U app -d app "
                                + "-c \"INSERT INTO cut VALUES ($(date +%s%N))\" >/dev/null 2>&1 && date +%s%3N; done; true");
                    } catch (Exception e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                });
        Thread.sleep(2000);
        DockerClient docker = DockerClientFactory.instance().client();
        long cutAt = System.currentTimeMillis();
        docker.disconnectFromNetworkCmd().withNetworkId(network.getId()).withContainerId(c.getContainerId())
                .withForce(true).exec();
        var result = writes.get(60, java.util.concurrent.TimeUnit.SECONDS);
        List<Long> acked = result.getStdout().lines().filter(l -> !l.isBlank()).map(Long::parseLong).toList();
        assertThat(acked).as("writes acknowledged before the cut: " + result.getStderr()).anyMatch(t -> t < cutAt);
        long lastAfter = acked.stream().mapToLong(t -> t - cutAt).max().orElseThrow();
        System.out.printf("[container] %s, cut off with the primary, acknowledged its last write %d ms after the cut"
                + " (lease 2000 ms)%n", IDS.get(cut), lastAfter);
        assertThat(lastAfter).as("ms from the cut to the last write acknowledged through it").isLessThanOrEqualTo(3000);
        int[] others = java.util.stream.IntStream.range(0, IDS.size()).filter(k -> k != cut).toArray();
        ClusterStatus failedOver = awaitStatus(s -> s.getEpoch() > before.getEpoch() && !s.getPrimary().isEmpty()
                && !s.getPrimary().equals(before.getPrimary()) && s.getHoldsLease(), Duration.ofMinutes(1), others);

        docker.connectToNetworkCmd().withNetworkId(network.getId()).withContainerId(c.getContainerId())
                .withContainerNetwork(new com.github.dockerjava.api.model.ContainerNetwork()
                        .withAliases(IDS.get(cut))).exec();
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        String code = primaryCheck(c);
        while (!"200".equals(code) && System.nanoTime() < deadline) {
            Thread.sleep(500);
            code = primaryCheck(c);
        }
        assertThat(code).as("/primary inside %s once back: it holds the lease of the new epoch", IDS.get(cut))
                .isEqualTo("200");
        awaitStatus(s -> s.getEpoch() >= failedOver.getEpoch() && allHealthy(s) && s.getNodesList().stream()
                .noneMatch(n -> n.getNode().getRole() == NodeRole.QUARANTINED), Duration.ofMinutes(3), others);
    }

    /** The status code of {@code /primary} asked inside the container (its HTTP port listens on every address). */
    private static String primaryCheck(GenericContainer<?> c) throws Exception {
        var r = c.execInContainer("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && "
                + "printf 'GET /primary HTTP/1.0\r\n\r\n' >&3 && read -r _ code _ <&3 && echo \"$code\"");
        return r.getStdout().trim();
    }

    private static boolean allHealthy(ClusterStatus s) {
        return s.getNodesCount() == 3 && s.getNodesList().stream().allMatch(n -> n.getHealth() == MajorityHealth.HEALTHY);
    }

    /** The status of the first of {@code instances} that answers and satisfies {@code ok}, within {@code timeout}. */
    private ClusterStatus awaitStatus(java.util.function.Predicate<ClusterStatus> ok, Duration timeout, int... instances)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            for (int i : instances) {
                Optional<ClusterStatus> s = status(i);
                if (s.isPresent()) {
                    last = s.get().getAnsweredBy() + ": epoch " + s.get().getEpoch() + ", primary " + s.get().getPrimary()
                            + ", " + s.get().getControllerSentence();
                    if (ok.test(s.get())) {
                        return s.get();
                    }
                }
            }
            Thread.sleep(500);
        }
        throw new AssertionError("not reached within " + timeout.toSeconds() + " s; last: " + last + "\n" + logs());
    }

    private Optional<ClusterStatus> status(int i) {
        try (MetakoClient client = new MetakoClient(List.of("127.0.0.1:" + hostPort(i, 7200)), TOKEN,
                Duration.ofSeconds(3))) {
            return Optional.of(client.status());
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * The host port a container's {@code port} is published on now: read from the engine each time, since a
     * container stopped and started again may be given another one.
     */
    private int hostPort(int i, int port) {
        var ports = DockerClientFactory.instance().client().inspectContainerCmd(containers.get(i).getContainerId()).exec()
                .getNetworkSettings().getPorts().getBindings();
        var bindings = ports.get(com.github.dockerjava.api.model.ExposedPort.tcp(port));
        if (bindings == null || bindings.length == 0) {
            throw new IllegalStateException(IDS.get(i) + " publishes no port for " + port + " now (stopped?)");
        }
        return Integer.parseInt(bindings[0].getHostPortSpec());
    }

    private String logs() {
        StringBuilder sb = new StringBuilder();
        for (GenericContainer<?> c : containers) {
            try {
                String all = c.getLogs();
                sb.append("---- ").append(c.getContainerName()).append('\n')
                        .append(all.substring(Math.max(0, all.length() - 3000)));
            } catch (RuntimeException e) {
                sb.append("---- no logs: ").append(e.getMessage()).append('\n');
            }
        }
        return sb.toString();
    }

    private Connection connect(int i) throws SQLException {
        java.util.Properties p = new java.util.Properties();
        p.setProperty("user", "app");
        p.setProperty("password", APP_PASSWORD);
        p.setProperty("connectTimeout", "5");
        p.setProperty("socketTimeout", "20");
        int port;
        try {
            port = hostPort(i, 6432);
        } catch (RuntimeException e) {
            throw new SQLException("no proxy port of " + IDS.get(i) + ": " + e.getMessage(), "08001");
        }
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/app", p);
    }

    private static void awaitAcks(Writer w, int count) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (w.acked.size() < count) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("only " + w.acked.size() + " writes acknowledged, waited for " + count
                        + " (failures " + w.failures + ")");
            }
            Thread.sleep(50);
        }
    }

    /** Writes increasing ids through one proxy; an id counts once its INSERT was answered. */
    private final class Writer implements Runnable {
        final Set<Integer> acked = new ConcurrentSkipListSet<>();
        volatile int failures;
        /** The instance whose proxy it writes through; after a failure, with {@link #rotate}, the next one. */
        private volatile int through;
        private final boolean rotate;
        private final AtomicBoolean stop = new AtomicBoolean();
        private Thread thread;
        private int next = 1;

        Writer(int through) {
            this(through, false);
        }

        Writer(int through, boolean rotate) {
            this.through = through;
            this.rotate = rotate;
        }

        Writer start() {
            thread = new Thread(this, "container-writer");
            thread.start();
            return this;
        }

        void stop() throws InterruptedException {
            stop.set(true);
            thread.join(30_000);
        }

        @Override
        public void run() {
            while (!stop.get()) {
                try (Connection c = connect(through); Statement st = c.createStatement()) {
                    while (!stop.get()) {
                        int id = next++;
                        st.execute("INSERT INTO acked (id) VALUES (" + id + ")");
                        acked.add(id);
                        Thread.sleep(10);
                    }
                } catch (SQLException e) {
                    failures++;
                    if (rotate) {
                        through = (through + 1) % IDS.size();
                    }
                    try {
                        Thread.sleep(200);
                    } catch (InterruptedException ie) {
                        return;
                    }
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }
}

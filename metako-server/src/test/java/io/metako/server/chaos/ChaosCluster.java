package io.metako.server.chaos;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.server.demo.InstanceLauncher;
import io.metako.server.demo.LocalCluster;
import io.metako.server.pg.LocalPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A real PostgreSQL primary + 2 streaming replicas and metako instances that each run as a process
 * of their own (as {@code metako demo} runs them), so that one instance can be killed, frozen or
 * restarted while the others go on. Every fault it injects is undone by {@link #close()}.
 */
final class ChaosCluster implements AutoCloseable {
    final LocalCluster cluster;
    private final List<Path> configs;
    private final Process[] instances;
    private final List<ProcessHandle> frozen = new ArrayList<>();
    private final Path dir;
    private Firewall firewall;
    private final boolean fakeClocks;
    private boolean closed;

    private ChaosCluster(LocalCluster cluster, List<Path> configs, int instanceCount, boolean fakeClocks) {
        this.cluster = cluster;
        this.configs = configs;
        this.instances = new Process[instanceCount];
        this.dir = cluster.dir();
        this.fakeClocks = fakeClocks;
    }

    /**
     * Starts PostgreSQL and every instance; returns once all agree on a leader and see every node healthy.
     * With {@code fakeClocks} every instance runs with a shim that offsets its wall clock by what a file of its
     * own says ({@link #stepClock}); its monotonic clock stays true.
     */
    static ChaosCluster start(int instanceCount, String replicationMode, Duration ready, boolean fakeClocks) throws Exception {
        return start(instanceCount, replicationMode, ready, fakeClocks, 0);
    }

    /**
     * Likewise, sized for {@code clients} client sessions on one instance (0: the defaults): every node's
     * {@code max_connections} and every proxy's {@code max_client_connections} leave room for them.
     */
    static ChaosCluster start(int instanceCount, String replicationMode, Duration ready, boolean fakeClocks, int clients)
            throws Exception {
        return start(instanceCount, replicationMode, ready, fakeClocks, clients, config -> { });
    }

    /** A change to an instance's config file before it starts. */
    interface ConfigEdit {
        void apply(Path config) throws IOException;
    }

    /** Likewise, with every instance's config file changed by {@code edit} before the instances start. */
    static ChaosCluster start(int instanceCount, String replicationMode, Duration ready, boolean fakeClocks, int clients,
                              ConfigEdit edit) throws Exception {
        return start(instanceCount, replicationMode, ready, fakeClocks, clients, false, edit);
    }

    /**
     * Likewise; {@code managed}: instance i manages node i (instance.manages), so old primaries rejoin on their own.
     * Off for the rounds: they restart and kill nodes themselves (rejoin under their faults comes later).
     */
    static ChaosCluster start(int instanceCount, String replicationMode, Duration ready, boolean fakeClocks, int clients,
                              boolean managed, ConfigEdit edit) throws Exception {
        return launch("metako-chaos-", instanceCount, instanceCount, replicationMode, ready, fakeClocks, 0, cluster -> {
            if (!managed) {
                cluster.withoutNodeManagers();
            }
        }, (cluster, c, configs) -> {
            if (clients > 0) {
                c.makeRoomFor(clients, configs);
            }
            for (Path config : configs) {
                edit.apply(config);
            }
        });
    }

    /**
     * Plans {@code planned} instances and starts the first {@code running} as a Raft group of their own (their files
     * list only each other as peers); the files of the others list every planned instance, for them to join later
     * ({@link #startInstance(int, boolean)} with {@code join}, then {@code metakoctl members add}).
     */
    static ChaosCluster startGrowable(int planned, int running, Duration ready) throws Exception {
        return startGrowable(planned, running, ready, false);
    }

    /** Likewise; {@code tls}: as production runs, mutual TLS on the Raft links and TLS on the admin API and router. */
    static ChaosCluster startGrowable(int planned, int running, Duration ready, boolean tls) throws Exception {
        return startGrowable(planned, running, ready, tls, 0);
    }

    /** Likewise; {@code compactEvery} > 0: every instance snapshots that often and drops the log up to it. */
    static ChaosCluster startGrowable(int planned, int running, Duration ready, boolean tls, long compactEvery)
            throws Exception {
        return launch("metako-members-", planned, running, "async", ready, false, compactEvery, cluster -> {
            cluster.withoutNodeManagers();
            if (tls) {
                cluster.useTls();
            }
        }, (cluster, c, configs) -> {
            for (int i = 0; i < running; i++) {
                String yaml = Files.readString(configs.get(i));
                for (int k = running; k < planned; k++) {
                    LocalCluster.InstanceSpec p = cluster.instances().get(k);
                    String entry = "  - id: " + p.id() + "\n    raft_address: " + LocalCluster.HOST + ":" + p.raftPort()
                            + "\n    grpc_address: " + LocalCluster.HOST + ":" + p.grpcPort() + "\n";
                    if (!yaml.contains(entry)) {
                        throw new IllegalStateException("no peer entry of " + p.id() + " to drop in " + configs.get(i));
                    }
                    yaml = yaml.replace(entry, "");
                }
                Files.writeString(configs.get(i), yaml);
            }
        });
    }

    /** What a start does to the planned cluster before its nodes start (TLS, node managers). */
    private interface Prepare {
        void apply(LocalCluster cluster) throws IOException;
    }

    /** What a start does to the written config files before the instances start. */
    private interface ConfigsEdit {
        void apply(LocalCluster cluster, ChaosCluster c, List<Path> configs) throws Exception;
    }

    /**
     * Plans 3 nodes and {@code planned} instances in a new folder, starts the nodes, writes the configs (health
     * every 500 ms, cooldown 5 s, {@code replicationMode}), starts the first {@code running} instances and waits
     * until they agree.
     */
    private static ChaosCluster launch(String folderPrefix, int planned, int running, String replicationMode, Duration ready,
                                       boolean fakeClocks, long compactEvery, Prepare prepare, ConfigsEdit edit) throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), folderPrefix);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        LocalCluster cluster = LocalCluster.plan(dir, 3, planned, s -> { });
        ChaosCluster c = new ChaosCluster(cluster, List.of(), planned, fakeClocks);
        try {
            prepare.apply(cluster);
            cluster.startPostgres();
            List<Path> configs = cluster.writeConfigs("500ms", "5s", replicationMode);
            edit.apply(cluster, c, configs);
            c = new ChaosCluster(cluster, configs, planned, fakeClocks);
            c.compactEvery(compactEvery);
            for (int i = 0; i < running; i++) {
                c.startInstance(i);
            }
            c.awaitSettled(ready);
            return c;
        } catch (Exception | AssertionError e) {
            c.close();
            throw e;
        }
    }

    /** Instance {@code i}'s admin API address (host:port). */
    String grpc(int i) {
        return cluster.instances().get(i).grpc();
    }

    /** Instance {@code i}'s Raft address (host:port). */
    String raftAddress(int i) {
        return LocalCluster.HOST + ":" + cluster.instances().get(i).raftPort();
    }

    /** A client of the admin API that knows the endpoints of {@code instances}. */
    MetakoClient client(List<Integer> instances) {
        return new MetakoClient(instances.stream().map(this::grpc).toList(), cluster.token(), Duration.ofSeconds(5),
                cluster.caCert() == null ? null : new MetakoClient.Tls(cluster.caCert(), null, null));
    }

    /** Raises max_connections on every node (replicas first: a standby needs at least the primary's) and the proxies' limit. */
    private void makeRoomFor(int clients, List<Path> configs) throws Exception {
        int maxConnections = clients + 300;
        for (int n = cluster.nodes().size() - 1; n >= 0; n--) { // the primary (node 0) last
            try (Connection conn = connectNode(n)) {
                conn.createStatement().execute("ALTER SYSTEM SET max_connections = " + maxConnections);
            }
            cluster.nodes().get(n).stop(LocalPostgres.StopMode.FAST);
            cluster.nodes().get(n).start();
        }
        for (Path config : configs) {
            String yaml = Files.readString(config);
            String proxy = "\n  failover_wait: 10s\n";
            if (!yaml.contains(proxy)) {
                throw new IllegalStateException("no proxy section to extend in " + config);
            }
            Files.writeString(config, yaml.replace(proxy, proxy + "  max_client_connections: " + (clients + 100) + "\n"));
        }
    }

    int instanceCount() {
        return instances.length;
    }

    void startInstance(int i) throws IOException, InterruptedException {
        startInstance(i, false);
    }

    /** {@code join}: started with --join (empty storage: it waits to be added to the running group). */
    void startInstance(int i, boolean join) throws IOException, InterruptedException {
        LocalCluster.InstanceSpec spec = cluster.instances().get(i);
        List<String> prefix = fakeClocks ? fakeClockPrefix(i) : compactEvery > 0
                ? List.of("/usr/bin/env", "JAVA_TOOL_OPTIONS=-Dmetako.raft.compact_every=" + compactEvery) : List.of();
        instances[i] = InstanceLauncher.launch(configs.get(i), dir.resolve(spec.id() + ".log"), prefix,
                join ? List.of("--join") : List.of());
    }

    /** Every instance started from now on snapshots every {@code entries} and drops the log up to it (0: as usual). */
    private long compactEvery;

    void compactEvery(long entries) {
        this.compactEvery = entries;
    }

    /**
     * {@code env} with the clock-step shim preloaded ({@code src/test/resources/chaos/clockstep.c}, built here
     * with gcc), reading instance {@code i}'s offset file. libfaketime was tried first: it also wraps timed waits
     * and the monotonic clock, and Java 17 instances under it did not finish starting within 90 s here.
     */
    private List<String> fakeClockPrefix(int i) throws IOException, InterruptedException {
        Path shim = dir.resolve("clockstep.so");
        if (!Files.exists(shim)) {
            Path source = dir.resolve("clockstep.c");
            try (var in = ChaosCluster.class.getResourceAsStream("/chaos/clockstep.c")) {
                Files.copy(java.util.Objects.requireNonNull(in, "chaos/clockstep.c is not on the test classpath"), source);
            }
            Process gcc;
            try {
                gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O2", "-o", shim.toString(), source.toString(), "-ldl")
                        .redirectErrorStream(true).start();
            } catch (IOException e) {
                throw new IllegalStateException("stepping an instance's clock needs gcc (apt-get install -y gcc): " + e.getMessage());
            }
            String out = new String(gcc.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (gcc.waitFor() != 0) {
                throw new IllegalStateException("gcc could not build the clock-step shim: " + out);
            }
        }
        Path offset = clockFile(i);
        if (!Files.exists(offset)) {
            Files.writeString(offset, "0\n");
        }
        return List.of("/usr/bin/env", "LD_PRELOAD=" + shim, "METAKO_CLOCK_OFFSET_FILE=" + offset);
    }

    private Path clockFile(int i) {
        return dir.resolve(cluster.instances().get(i).id() + ".clock-offset-ms");
    }

    /** Steps instance {@code i}'s wall clock to {@code offsetMillis} from the true time; it applies within 200 ms. */
    void stepClock(int i, long offsetMillis) throws IOException {
        if (!fakeClocks) {
            throw new IllegalStateException("the cluster was not started with fake clocks");
        }
        Files.writeString(clockFile(i), offsetMillis + "\n");
    }

    /** SIGKILL: the instance gets no chance to tidy up. */
    void killInstance(int i) throws InterruptedException {
        Process p = instances[i];
        if (p != null) {
            p.destroyForcibly();
            p.waitFor();
            instances[i] = null;
        }
    }

    private Path logOf(int i) {
        return dir.resolve(cluster.instances().get(i).id() + ".log");
    }

    /** How long instance {@code i}'s log is now (a position to read new lines from). */
    long logSize(int i) throws IOException {
        return Files.exists(logOf(i)) ? Files.size(logOf(i)) : 0;
    }

    /** Waits until instance {@code i}'s log, from byte {@code from} on, holds {@code text}; false after {@code timeoutMillis}. */
    boolean awaitLogLine(int i, long from, String text, long timeoutMillis) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (System.currentTimeMillis() < deadline) {
            if (logSince(i, from).contains(text)) {
                return true;
            }
            Thread.sleep(5);
        }
        return false;
    }

    private String logSince(int i, long from) throws IOException {
        try (var ch = java.nio.channels.FileChannel.open(logOf(i))) {
            ch.position(Math.min(from, ch.size()));
            return new String(java.nio.channels.Channels.newInputStream(ch).readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    /** The pid of instance {@code i}'s process, while it runs. */
    Optional<Long> pid(int i) {
        Process p = instances[i];
        return p == null || !p.isAlive() ? Optional.empty() : Optional.of(p.pid());
    }

    /** Every running instance's status, in order; those that do not answer are left out. */
    List<ClusterStatus> statuses() {
        List<ClusterStatus> out = new ArrayList<>();
        for (int i = 0; i < instances.length; i++) {
            status(i).ifPresent(out::add);
        }
        return out;
    }

    ProcessHandle instance(int i) {
        return instances[i].toHandle();
    }

    /** The postmaster and every process under it (a frozen host freezes all of them). */
    List<ProcessHandle> nodeTree(int node) throws IOException {
        ProcessHandle postmaster = cluster.nodes().get(node).postmaster()
                .orElseThrow(() -> new IllegalStateException(cluster.nodes().get(node).name() + " is not running"));
        List<ProcessHandle> tree = new ArrayList<>();
        tree.add(postmaster);
        postmaster.descendants().forEach(tree::add);
        return tree;
    }

    /** SIGSTOP, in the order given (a postmaster first, so that it forks no child meanwhile). */
    void freeze(List<ProcessHandle> processes) throws IOException, InterruptedException {
        for (ProcessHandle p : processes) {
            try {
                signal("-STOP", p);
            } catch (IOException e) {
                if (p.isAlive()) {
                    throw e;
                }
                continue; // a child that exited between the listing and the signal (a backend's session ended)
            }
            frozen.add(p);
        }
    }

    /** SIGCONT of everything frozen, children before their parents. */
    void thawAll() throws IOException, InterruptedException {
        List<ProcessHandle> all = new ArrayList<>(frozen);
        java.util.Collections.reverse(all);
        for (ProcessHandle p : all) {
            if (p.isAlive()) {
                signal("-CONT", p);
            }
        }
        frozen.clear();
    }

    private static void signal(String sig, ProcessHandle p) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("/bin/kill", sig, Long.toString(p.pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IOException("kill " + sig + " " + p.pid() + " failed");
        }
    }

    /**
     * The round's firewall, made on first use: every instance JVM and every node's process tree then
     * sits in a net_cls cgroup named after it ({@code metako-1}, {@code pg-1}).
     */
    Firewall firewall() throws IOException, InterruptedException {
        if (firewall == null) {
            firewall = Firewall.create(dir.getFileName().toString());
            for (int i = 0; i < instances.length; i++) {
                if (instances[i] != null) {
                    firewall.place(cluster.instances().get(i).id(), List.of(instances[i].toHandle()));
                }
            }
            for (int n = 0; n < cluster.nodes().size(); n++) {
                if (cluster.nodes().get(n).postmaster().isPresent()) {
                    firewall.place(cluster.nodes().get(n).name(), nodeTree(n));
                }
            }
        }
        return firewall;
    }

    String instanceName(int i) {
        return cluster.instances().get(i).id();
    }

    int raftPort(int i) {
        return cluster.instances().get(i).raftPort();
    }

    /** The ports clients write through on instance {@code i}: its statement router and its rw_port. */
    List<Integer> clientPorts(int i) {
        return List.of(cluster.instances().get(i).proxyPort(), cluster.instances().get(i).rwPort());
    }

    String nodeName(int n) {
        return cluster.nodes().get(n).name();
    }

    int nodePort(int n) {
        return cluster.nodes().get(n).port();
    }

    MetakoClient client(int i) {
        return new MetakoClient(List.of(cluster.instances().get(i).grpc()), cluster.token(), Duration.ofSeconds(2),
                cluster.caCert() == null ? null : new MetakoClient.Tls(cluster.caCert(), null, null));
    }

    /** Instance {@code i}'s status, or empty when it does not answer. */
    Optional<ClusterStatus> status(int i) {
        if (instances[i] == null) {
            return Optional.empty();
        }
        try (MetakoClient c = client(i)) {
            return Optional.of(c.status());
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /** The instance that leads the Raft group, as the first answering instance says; -1 if none is known. */
    int leaderIndex() {
        for (int i = 0; i < instances.length; i++) {
            Optional<ClusterStatus> s = status(i);
            if (s.isPresent() && !s.get().getLeaderId().isEmpty()) {
                String leader = s.get().getLeaderId();
                for (int k = 0; k < instances.length; k++) {
                    if (cluster.instances().get(k).id().equals(leader)) {
                        return k;
                    }
                }
            }
        }
        return -1;
    }

    int nodeIndex(String name) {
        for (int i = 0; i < cluster.nodes().size(); i++) {
            if (cluster.nodes().get(i).name().equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("no node " + name);
    }

    /**
     * Waits until every running instance answers with the same leader, epoch and primary, no
     * operation in progress, and holds the write lease; returns that status.
     */
    ClusterStatus awaitSettled(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            List<ClusterStatus> all = new ArrayList<>();
            boolean complete = true;
            for (int i = 0; i < instances.length; i++) {
                if (instances[i] == null) {
                    continue;
                }
                if (!instances[i].isAlive()) {
                    throw new AssertionError(cluster.instances().get(i).id() + " exited with code " + instances[i].exitValue()
                            + "; its log: " + dir.resolve(cluster.instances().get(i).id() + ".log"));
                }
                Optional<ClusterStatus> s = status(i);
                if (s.isEmpty()) {
                    complete = false;
                    last = cluster.instances().get(i).id() + " does not answer";
                    break;
                }
                all.add(s.get());
            }
            if (complete && !all.isEmpty()) {
                ClusterStatus first = all.get(0);
                last = first.getControllerSentence();
                boolean agree = first.getSeeded() && !first.getPrimary().isEmpty() && !first.getLeaderId().isEmpty()
                        && all.stream().allMatch(s -> s.getEpoch() == first.getEpoch() && s.getPrimary().equals(first.getPrimary())
                                && s.getLeaderId().equals(first.getLeaderId()) && s.getHoldsLease());
                boolean primaryHealthy = first.getNodesList().stream()
                        .anyMatch(n -> n.getNode().getName().equals(first.getPrimary()) && n.getHealth() == MajorityHealth.HEALTHY);
                if (agree && primaryHealthy) {
                    return first;
                }
            }
            Thread.sleep(200);
        }
        throw new AssertionError("the instances did not settle within " + timeout.toSeconds() + " s (last: " + last
                + "); logs in " + dir);
    }

    /** Starts every node that is not running (a killed primary comes back as-is, for the checks to read it). */
    void startStoppedNodes() throws IOException {
        for (LocalPostgres n : cluster.nodes()) {
            if (n.postmaster().isEmpty()) {
                n.start();
            }
        }
    }

    Connection connectNode(int node) throws SQLException {
        java.util.Properties p = new java.util.Properties();
        p.setProperty("user", LocalCluster.SUPERUSER);
        p.setProperty("password", cluster.password());
        p.setProperty("connectTimeout", "3");
        p.setProperty("socketTimeout", "10");
        return DriverManager.getConnection(cluster.jdbcUrl(cluster.nodes().get(node)), p);
    }

    /** The statement router of instance {@code i}, as an application connects to it. */
    String routerUrl(int i) {
        return "jdbc:postgresql://" + LocalCluster.HOST + ":" + cluster.instances().get(i).proxyPort() + "/postgres";
    }

    /** Instance {@code i}'s rw_port: bytes forwarded to the primary, logins answered by the primary itself. */
    String rwUrl(int i) {
        return "jdbc:postgresql://" + LocalCluster.HOST + ":" + cluster.instances().get(i).rwPort() + "/postgres";
    }

    /** How a client logs in through one of instance {@code i}'s ports: the router knows the proxy user, the primary only its own roles. */
    String url(int i, Port port) {
        return port == Port.ROUTER ? routerUrl(i) : rwUrl(i);
    }

    String user(Port port) {
        return port == Port.ROUTER ? LocalCluster.PROXY_USER : LocalCluster.SUPERUSER;
    }

    /** The two ports of an instance that take writes. */
    enum Port {
        ROUTER("router"), RW("rw_port");

        final String label;

        Port(String label) {
            this.label = label;
        }
    }

    String password() {
        return cluster.password();
    }

    String nodeNameOfPort(int port) {
        return cluster.nodes().stream().filter(n -> n.port() == port).map(LocalPostgres::name).findFirst()
                .orElse("port " + port);
    }

    Path dir() {
        return dir;
    }

    /** Stops everything and undoes every fault; a second call does nothing (a round closes early to delete its files). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            thawAll();
        } catch (IOException | InterruptedException e) {
            // still stop everything below
        }
        for (Process p : instances) {
            if (p != null) {
                p.destroyForcibly();
            }
        }
        for (Process p : instances) {
            if (p != null) {
                try {
                    p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        cluster.close();
        if (firewall != null) {
            try {
                firewall.close();
            } catch (IOException | InterruptedException e) {
                System.err.println("[chaos] removing the firewall rules failed: " + e.getMessage());
            }
        }
    }

    /** Removes the cluster's folder (kept when a round failed, for its logs). */
    void deleteFiles() {
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a leftover temp folder is harmless
        }
    }
}

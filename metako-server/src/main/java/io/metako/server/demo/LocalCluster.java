package io.metako.server.demo;

import io.metako.server.pg.LocalPostgres;
import io.metako.server.pg.OsCommand;
import io.metako.server.pg.PgBinaries;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;

/**
 * A PostgreSQL cluster on loopback (one primary, streaming replicas) and the configuration files
 * of the metako instances that manage it, all under one folder. Used by {@code metako demo} and
 * by the integration tests, so both run the same real thing.
 */
public final class LocalCluster implements AutoCloseable {
    public static final String HOST = "127.0.0.1";
    public static final String SUPERUSER = "postgres";
    /** The user the statement router accepts (password: the superuser's, from the same file). */
    public static final String PROXY_USER = "app";

    /** Addresses of one metako instance. */
    public record InstanceSpec(String id, int raftPort, int grpcPort, int httpPort, int proxyPort, int rwPort, int roPort) {
        public String grpc() {
            return HOST + ":" + grpcPort;
        }
    }

    private final Path dir;
    private final List<LocalPostgres> nodes = new ArrayList<>();
    private final List<InstanceSpec> instances = new ArrayList<>();
    private final String password;
    private final String token;
    private final Consumer<String> progress;
    /** Whether instance i manages node i (instance.manages), as the demo co-locates them. */
    private boolean manageNodes = true;
    /** Where {@link #useTls()} put the cluster CA and the instances' certificates; null while TLS is off. */
    private Path pki;

    /** What {@link #reopen} reads to start a cluster planned earlier again: its size and ports. */
    private static final String LAYOUT = "layout.properties";

    private LocalCluster(Path dir, Consumer<String> progress) {
        this(dir, progress, randomHex(new SecureRandom(), 12), randomHex(new SecureRandom(), 24));
    }

    private LocalCluster(Path dir, Consumer<String> progress, String password, String token) {
        this.dir = dir.toAbsolutePath();
        this.progress = progress;
        this.password = password;
        this.token = token;
    }

    /** Whether {@code dir} holds a cluster {@link #plan} made (started or stopped since). */
    public static boolean isCluster(Path dir) {
        return Files.isRegularFile(dir.resolve(LAYOUT));
    }

    /**
     * A cluster planned earlier in {@code dir}, with its ports, secrets and certificates, to start again: its
     * nodes with {@link #startExistingNodes()}, its instances from the config files already there.
     */
    public static LocalCluster reopen(Path dir, Consumer<String> progress) throws IOException {
        java.util.Properties layout = new java.util.Properties();
        try (var in = Files.newBufferedReader(dir.resolve(LAYOUT), StandardCharsets.UTF_8)) {
            layout.load(in);
        }
        LocalCluster c = new LocalCluster(dir, progress, Files.readString(dir.resolve("pg-password"), StandardCharsets.UTF_8),
                Files.readString(dir.resolve("token"), StandardCharsets.UTF_8));
        PgBinaries bin = PgBinaries.locate(System.getenv());
        OsCommand os = new OsCommand("postgres");
        try {
            int nodeCount = Integer.parseInt(layout.getProperty("nodes"));
            int instanceCount = Integer.parseInt(layout.getProperty("instances"));
            for (int i = 1; i <= nodeCount; i++) {
                c.nodes.add(new LocalPostgres(bin, os, "pg-" + i, c.dir.resolve("pg-" + i), HOST,
                        Integer.parseInt(layout.getProperty("node." + i + ".port"))));
            }
            for (int i = 1; i <= instanceCount; i++) {
                int[] ports = java.util.Arrays.stream(layout.getProperty("instance." + i + ".ports").split(","))
                        .mapToInt(Integer::parseInt).toArray();
                c.instances.add(new InstanceSpec("metako-" + i, ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]));
            }
        } catch (RuntimeException e) {
            throw new IOException(dir.resolve(LAYOUT) + " is damaged (" + e + "); delete the folder and start afresh", e);
        }
        if (Files.isRegularFile(dir.resolve("pki").resolve("ca.crt"))) {
            c.pki = c.dir.resolve("pki");
        }
        return c;
    }

    private void writeLayout() throws IOException {
        StringBuilder sb = new StringBuilder("# the ports of this folder's cluster, read when it starts again\n");
        sb.append("nodes=").append(nodes.size()).append("\ninstances=").append(instances.size()).append('\n');
        for (int i = 0; i < nodes.size(); i++) {
            sb.append("node.").append(i + 1).append(".port=").append(nodes.get(i).port()).append('\n');
        }
        for (int i = 0; i < instances.size(); i++) {
            InstanceSpec s = instances.get(i);
            sb.append("instance.").append(i + 1).append(".ports=").append(s.raftPort()).append(',').append(s.grpcPort())
                    .append(',').append(s.httpPort()).append(',').append(s.proxyPort()).append(',').append(s.rwPort())
                    .append(',').append(s.roPort()).append('\n');
        }
        Files.writeString(dir.resolve(LAYOUT), sb.toString(), StandardCharsets.UTF_8);
    }

    /** Plans {@code nodeCount} nodes and {@code instanceCount} instances on free ports; starts nothing. */
    public static LocalCluster plan(Path dir, int nodeCount, int instanceCount, Consumer<String> progress)
            throws IOException {
        return plan(dir, nodeCount, instanceCount, progress, false);
    }

    /** Likewise; {@code lasting}: ports for a cluster started again later on them ({@link FreePorts#takeLasting}). */
    public static LocalCluster plan(Path dir, int nodeCount, int instanceCount, Consumer<String> progress, boolean lasting)
            throws IOException {
        LocalCluster c = new LocalCluster(dir, progress);
        Files.createDirectories(c.dir);
        Files.setPosixFilePermissions(c.dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        PgBinaries bin = PgBinaries.locate(System.getenv());
        OsCommand os = new OsCommand("postgres");
        List<Integer> ports = lasting ? FreePorts.takeLasting(nodeCount + 6 * instanceCount)
                : FreePorts.take(nodeCount + 6 * instanceCount);
        for (int i = 0; i < nodeCount; i++) {
            String name = "pg-" + (i + 1);
            c.nodes.add(new LocalPostgres(bin, os, name, c.dir.resolve(name), HOST, ports.get(i)));
        }
        for (int i = 0; i < instanceCount; i++) {
            int base = nodeCount + 6 * i;
            c.instances.add(new InstanceSpec("metako-" + (i + 1), ports.get(base), ports.get(base + 1),
                    ports.get(base + 2), ports.get(base + 3), ports.get(base + 4), ports.get(base + 5)));
        }
        c.writeSecret("pg-password", c.password);
        c.writeSecret("token", c.token);
        c.writeSecret("pgpass", "*:*:*:" + SUPERUSER + ":" + c.password + "\n*:*:*:" + PROXY_USER + ":" + c.password + "\n");
        c.writeLayout();
        return c;
    }

    /**
     * Turns TLS on for the configs written next, as a production cluster runs: a cluster CA and one certificate per
     * instance, made by {@code deploy/certs.sh} in {@code DIR/pki}, serve mutual TLS on the Raft links, TLS on the
     * admin API and TLS offered by the statement router. The files stay for clients: {@link #caCert()}.
     */
    public void useTls() throws IOException {
        Path folder = dir.resolve("pki");
        Files.createDirectories(folder);
        Path script = dir.resolve("certs.sh");
        try (var in = LocalCluster.class.getResourceAsStream("certs.sh")) {
            if (in == null) {
                throw new IOException("certs.sh is missing from the build (metako-server's resources)");
            }
            Files.copy(in, script, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        progress.accept("certificates: a cluster CA and " + instances.size() + " instance certificates in " + folder);
        certs(script, "init", folder.toString());
        for (InstanceSpec i : instances) {
            certs(script, "instance", folder.toString(), i.id(), HOST + ",localhost");
        }
        Files.delete(script);
        pki = folder;
    }

    private static void certs(Path script, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("bash", script.toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (p.waitFor() != 0) {
                throw new IOException("deploy/certs.sh " + String.join(" ", args) + " failed (is openssl installed?): "
                        + out.strip());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while making certificates", e);
        }
    }

    /**
     * Configs written next give no instance a node to manage: nothing rejoins on its own, for tests that drive the
     * nodes themselves (restart an old primary as-is, hold it quarantined).
     */
    public void withoutNodeManagers() {
        manageNodes = false;
    }

    /** The cluster CA's certificate clients trust (metakoctl --cacert, sslrootcert); null while TLS is off. */
    public Path caCert() {
        return pki == null ? null : pki.resolve("ca.crt");
    }

    /** The password file replicas stream with, owned by the postgres OS user: {@code primary_conninfo} names it. */
    public Path replicationPassfile() {
        return dir.resolve("replication.pgpass");
    }

    /** initdb the primary, pg_basebackup the replicas, start them all. */
    public void startPostgres() throws IOException {
        LocalPostgres.writePassfile(new OsCommand("postgres"), replicationPassfile(), SUPERUSER, password);
        LocalPostgres primary = nodes.get(0);
        progress.accept("initdb " + primary.name() + " (primary) on " + HOST + ":" + primary.port());
        primary.initPrimary(SUPERUSER, password);
        primary.start();
        for (LocalPostgres replica : nodes.subList(1, nodes.size())) {
            progress.accept("pg_basebackup " + replica.name() + " (streaming replica of " + primary.name()
                    + ") on " + HOST + ":" + replica.port());
            replica.initReplica(HOST, primary.port(), SUPERUSER, password, replicationPassfile());
            replica.start();
        }
    }

    /**
     * Starts the nodes of a {@link #reopen reopened} cluster as their data directories left them: a replica stays one
     * (its {@code standby.signal}), one that was a primary starts read-only until the leader lifts that. A node whose
     * rejoin was cut short (its marker is there) stays stopped: its instance resumes the rewind or clone. Returns the
     * config files of the instances, as they were written.
     */
    public List<Path> startExistingNodes() throws IOException {
        for (LocalPostgres n : nodes) {
            progress.accept(io.metako.server.agent.NodeStarter.startIfStopped(n)); // as metako --start-node does
        }
        List<Path> files = new ArrayList<>();
        for (InstanceSpec self : instances) {
            Path file = dir.resolve(self.id() + ".yaml");
            if (!Files.isRegularFile(file)) {
                throw new IOException(file + " is missing; delete the folder and start afresh");
            }
            files.add(file);
        }
        return files;
    }

    /** Writes {@code metako-N.yaml} for every instance and returns their paths. */
    public List<Path> writeConfigs(String healthInterval) throws IOException {
        return writeConfigs(healthInterval, "30s");
    }

    /** Likewise, with the failover cooldown (tests that fail over twice shorten it). */
    public List<Path> writeConfigs(String healthInterval, String failoverCooldown) throws IOException {
        return writeConfigs(healthInterval, failoverCooldown, "async");
    }

    /** Likewise, with the replication mode ({@code async}, or {@code sync} with one synchronous standby). */
    public List<Path> writeConfigs(String healthInterval, String failoverCooldown, String replicationMode)
            throws IOException {
        List<Path> files = new ArrayList<>();
        for (InstanceSpec self : instances) {
            Path file = dir.resolve(self.id() + ".yaml");
            Files.writeString(file, configText(self, healthInterval, failoverCooldown, replicationMode),
                    StandardCharsets.UTF_8);
            files.add(file);
        }
        return files;
    }

    private String configText(InstanceSpec self, String healthInterval, String failoverCooldown,
                              String replicationMode) {
        StringBuilder y = new StringBuilder();
        y.append("# written by pg-metako's LocalCluster for instance ").append(self.id()).append('\n');
        y.append("cluster_name: demo\n");
        y.append("instance:\n");
        y.append("  id: ").append(self.id()).append('\n');
        y.append("  raft_address: ").append(HOST).append(':').append(self.raftPort()).append('\n');
        y.append("  grpc_address: ").append(HOST).append(':').append(self.grpcPort()).append('\n');
        y.append("  http_address: ").append(HOST).append(':').append(self.httpPort()).append('\n');
        y.append("  storage_dir: ").append(quoted(dir.resolve(self.id()))).append('\n');
        y.append("  auth_token_file: ").append(quoted(dir.resolve("token"))).append('\n');
        int index = instances.indexOf(self);
        if (manageNodes && index < nodes.size()) {
            LocalPostgres managed = nodes.get(index);
            y.append("  manages:\n    node: ").append(managed.name()).append("\n    data_dir: ")
                    .append(quoted(managed.dataDir())).append('\n');
        }
        y.append("peers:\n");
        for (InstanceSpec p : instances) {
            y.append("  - id: ").append(p.id()).append('\n');
            y.append("    raft_address: ").append(HOST).append(':').append(p.raftPort()).append('\n');
            y.append("    grpc_address: ").append(HOST).append(':').append(p.grpcPort()).append('\n');
        }
        y.append("proxy:\n  listen_host: ").append(HOST).append("\n  port: ").append(self.proxyPort())
                .append("\n  rw_port: ").append(self.rwPort()).append("\n  ro_port: ").append(self.roPort())
                .append("\n  failover_wait: 10s\n")
                .append("  users:\n    - name: ").append(PROXY_USER).append("\n      password_file: ")
                .append(quoted(dir.resolve("pg-password"))).append('\n');
        y.append("nodes:\n");
        for (int i = 0; i < nodes.size(); i++) {
            LocalPostgres n = nodes.get(i);
            y.append("  - name: ").append(n.name()).append('\n');
            y.append("    host: ").append(HOST).append('\n');
            y.append("    port: ").append(n.port()).append('\n');
            y.append("    role: ").append(i == 0 ? "primary" : "replica").append('\n');
            y.append("    username: ").append(SUPERUSER).append('\n');
            y.append("    password_file: ").append(quoted(dir.resolve("pg-password"))).append('\n');
            y.append("    database: postgres\n");
        }
        y.append("health_check:\n  interval: ").append(healthInterval).append("\n  timeout: ").append(healthInterval)
                .append("\n  failure_threshold: 3\n  recovery_threshold: 2\n");
        y.append("load_balancer:\n  algorithm: round_robin\n");
        y.append("logging:\n  status_interval: 10s   # a status report line in each instance's log\n");
        y.append("failover:\n  cooldown: ").append(failoverCooldown).append('\n');
        y.append("replication:\n  mode: ").append(replicationMode).append("\n  sync_standbys: 1\n  passfile: ")
                .append(quoted(replicationPassfile())).append('\n');
        if (pki != null) {
            y.append("security:\n  tls_enabled: true\n  api_tls_enabled: true\n  raft_tls_enabled: true\n")
                    .append("  cert_file: ").append(quoted(pki.resolve(self.id() + ".crt"))).append('\n')
                    .append("  key_file: ").append(quoted(pki.resolve(self.id() + ".key"))).append('\n')
                    .append("  raft_ca_file: ").append(quoted(pki.resolve("ca.crt"))).append('\n');
        }
        return y.toString();
    }

    /** A YAML single-quoted scalar, safe for any path. */
    private static String quoted(Path p) {
        return "'" + p.toString().replace("'", "''") + "'";
    }

    public Path dir() {
        return dir;
    }

    public List<LocalPostgres> nodes() {
        return List.copyOf(nodes);
    }

    public List<InstanceSpec> instances() {
        return List.copyOf(instances);
    }

    public String token() {
        return token;
    }

    /** The superuser password: hand it only to drivers. */
    public String password() {
        return password;
    }

    public Path passfile() {
        return dir.resolve("pgpass");
    }

    public String jdbcUrl(LocalPostgres node) {
        return "jdbc:postgresql://" + HOST + ":" + node.port() + "/postgres";
    }

    /** Stops every node (fast, then SIGKILL for any that will not stop). */
    @Override
    public void close() {
        for (LocalPostgres n : nodes) {
            try {
                n.stop(LocalPostgres.StopMode.FAST);
            } catch (IOException | RuntimeException e) {
                progress.accept("stopping " + n.name() + " failed (" + e.getMessage().lines().findFirst().orElse("")
                        + "); killing it");
            }
            try {
                n.kill();
            } catch (IOException ignored) {
                // nothing more can be done for it
            }
        }
    }

    private void writeSecret(String name, String value) throws IOException {
        Path f = dir.resolve(name);
        Files.deleteIfExists(f);
        Files.createFile(f, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(f, value, StandardCharsets.UTF_8);
    }

    private static String randomHex(SecureRandom random, int bytes) {
        byte[] b = new byte[bytes];
        random.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}

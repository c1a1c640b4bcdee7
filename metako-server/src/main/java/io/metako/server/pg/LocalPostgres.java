package io.metako.server.pg;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Controls one local PostgreSQL server: create it (initdb as a replication-ready primary, or
 * pg_basebackup as a streaming replica), start, stop, kill and report status.
 *
 * <p>Layout under {@code nodeDir}: {@code data/} (PGDATA), {@code postgres.log}, and the Unix
 * socket. Node-specific settings (port, listen address, socket folder, cluster_name) live in
 * {@code data/metako_node.conf}, which pg_basebackup and pg_rewind copy from the source: it is
 * rewritten after every copy.
 */
public final class LocalPostgres {
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(120);
    private static final String NODE_CONF = "metako_node.conf";

    private final PgBinaries bin;
    private final OsCommand os;
    private final String name;
    private final Path nodeDir;
    private final Path dataDir;
    private final String host;
    private final int port;

    /** A node laid out as {@code metako demo} lays it out: PGDATA is {@code nodeDir/data}. */
    public LocalPostgres(PgBinaries bin, OsCommand os, String name, Path nodeDir, String host, int port) {
        this(bin, os, name, nodeDir.toAbsolutePath(), nodeDir.toAbsolutePath().resolve("data"), host, port);
    }

    private LocalPostgres(PgBinaries bin, OsCommand os, String name, Path nodeDir, Path dataDir, String host, int port) {
        this.bin = bin;
        this.os = os;
        this.name = name;
        this.nodeDir = nodeDir;
        this.dataDir = dataDir;
        this.host = host;
        this.port = port;
    }

    /**
     * The node whose PGDATA is {@code dataDir} (any name); its parent folder holds {@code postgres.log}, the Unix
     * socket and what a rejoin leaves there for a while (a clone being made, the old data directory).
     */
    public static LocalPostgres atDataDir(PgBinaries bin, OsCommand os, String name, Path dataDir, String host, int port) {
        Path data = dataDir.toAbsolutePath().normalize();
        return new LocalPostgres(bin, os, name, data.getParent(), data, host, port);
    }

    public enum Status { RUNNING, STOPPED, NO_DATA }

    public enum StopMode { FAST, IMMEDIATE }

    public String name() {
        return name;
    }

    public int port() {
        return port;
    }

    public String host() {
        return host;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** The folder around the data directory: server log, socket, rejoin marker. */
    public Path nodeDir() {
        return nodeDir;
    }

    public Path logFile() {
        return nodeDir.resolve("postgres.log");
    }

    /** initdb a primary ready for streaming replication; {@code superuser} logs in with {@code password}. */
    public void initPrimary(String superuser, String password) throws IOException {
        prepareNodeDir();
        Path pwfile = nodeDir.resolve(".pwfile");
        Files.deleteIfExists(pwfile);
        Files.createFile(pwfile, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"))); // never readable by others, even briefly
        Files.writeString(pwfile, password + "\n", StandardCharsets.UTF_8);
        os.chown(pwfile);
        try {
            run("initdb", List.of(tool("initdb"), "-D", dataDir().toString(), "-U", superuser,
                    "--pwfile=" + pwfile, "--auth-local=trust", "--auth-host=scram-sha-256",
                    "-E", "UTF8", "--locale=C"), Map.of());
        } finally {
            Files.deleteIfExists(pwfile);
        }
        appendFile(dataDir().resolve("postgresql.conf"), String.join("\n",
                "", "# --- written by pg-metako: settings every node of the cluster shares ---",
                "wal_level = replica",
                "wal_log_hints = on",
                "hot_standby = on",
                "hot_standby_feedback = on",
                "max_wal_senders = 16",
                "max_replication_slots = 16",
                "wal_keep_size = '512MB'",
                "max_connections = 200",
                "# replicas notice a silent primary within seconds, and an idle primary still sends a keepalive",
                "# every 2.5 s: metako reads 'a replica still receives WAL' as proof the primary lives",
                "wal_sender_timeout = '5s'",
                "wal_receiver_timeout = '5s'",
                "wal_receiver_status_interval = '1s'",
                "# commit times let an operator (and the fault harness) order writes across nodes after a failover",
                "track_commit_timestamp = on",
                "include_if_exists = '" + NODE_CONF + "'", ""));
        writeFile(dataDir().resolve("pg_hba.conf"), String.join("\n",
                "# written by pg-metako",
                "local   all          all                  trust",
                "local   replication  all                  trust",
                "host    all          all  127.0.0.0/8     scram-sha-256",
                "host    replication  all  127.0.0.0/8     scram-sha-256",
                "host    all          all  ::1/128         scram-sha-256",
                "host    replication  all  ::1/128         scram-sha-256", ""));
        writeNodeConf();
    }

    /**
     * pg_basebackup a streaming replica of {@code source}; {@code primary_conninfo} names this node and reads the
     * password from {@code passfile} (a libpq password file the postgres OS user owns, see
     * {@link #writePassfile}), so the password is not written into {@code postgresql.auto.conf}.
     */
    public void initReplica(String sourceHost, int sourcePort, String user, String password, Path passfile)
            throws IOException {
        prepareNodeDir();
        String conninfo = "host=" + sourceHost + " port=" + sourcePort + " user=" + user
                + " application_name=" + name;
        // no -R: it would write the password it logged in with into primary_conninfo
        run("pg_basebackup", List.of(tool("pg_basebackup"), "-D", dataDir().toString(), "-X", "stream",
                "-c", "fast", "-d", conninfo), Map.of("PGPASSWORD", password, "PGCONNECT_TIMEOUT", "10"));
        follow(sourceHost, sourcePort, user, passfile);
    }

    /**
     * Makes this stopped node a replica of {@code sourceHost:sourcePort} again after it may have diverged from it
     * (an old primary after a failover): {@code pg_rewind --source-server} rewinds its data directory to the point
     * where the timelines forked (running crash recovery first if it was killed), then it follows the source.
     * pg_rewind copies the source's configuration files and removes {@code standby.signal}: both this node's own
     * settings and {@code standby.signal} / {@code primary_conninfo} are written again. The password comes from
     * {@code passfile}. Not started here. Needs {@code wal_log_hints} (set by {@link #initPrimary}) or checksums,
     * and a source whose control file names its timeline (a checkpoint after its promotion). Returns what
     * pg_rewind printed.
     */
    public String rewind(String sourceHost, int sourcePort, String user, Path passfile) throws IOException {
        return rewind(sourceHost, sourcePort, user, passfile, STEP_TIMEOUT);
    }

    /** Likewise, pg_rewind given up to {@code timeout}. */
    public String rewind(String sourceHost, int sourcePort, String user, Path passfile, Duration timeout)
            throws IOException {
        if (status() == Status.RUNNING) {
            throw new PostgresException(name + ": stop the node before pg_rewind");
        }
        String source = "host=" + sourceHost + " port=" + sourcePort + " user=" + user + " dbname=postgres passfile="
                + Conninfo.value(passfile.toString());
        OsCommand.Result r = os.run(List.of(tool("pg_rewind"), "-D", dataDir().toString(), "--source-server=" + source),
                nodeDir, Map.of("PGCONNECT_TIMEOUT", "10"), timeout);
        if (!r.ok()) {
            throw failure("pg_rewind", r);
        }
        follow(sourceHost, sourcePort, user, passfile);
        return r.output().strip();
    }

    /**
     * Replaces this stopped node's data directory with a fresh {@code pg_basebackup} of {@code sourceHost:sourcePort},
     * made beside it and swapped in only once it is complete (the old one is deleted after the swap), then follows
     * the source as {@link #rewind} does. For a node pg_rewind cannot bring back (the WAL it needs is gone, a
     * damaged or missing data directory). Not started here.
     */
    public void reclone(String sourceHost, int sourcePort, String user, Path passfile, Duration timeout)
            throws IOException {
        if (status() == Status.RUNNING) {
            throw new PostgresException(name + ": stop the node before replacing its data directory");
        }
        Path fresh = dataDir.resolveSibling(dataDir.getFileName() + ".metako-clone");
        Path old = dataDir.resolveSibling(dataDir.getFileName() + ".metako-old");
        deleteTree(fresh);
        String conninfo = "host=" + sourceHost + " port=" + sourcePort + " user=" + user + " application_name=" + name
                + " passfile=" + Conninfo.value(passfile.toString());
        OsCommand.Result r = os.run(List.of(tool("pg_basebackup"), "-D", fresh.toString(), "-X", "stream", "-c", "fast",
                "-d", conninfo), nodeDir, Map.of("PGCONNECT_TIMEOUT", "10"), timeout);
        if (!r.ok()) {
            throw failure("pg_basebackup", r);
        }
        follow(fresh, sourceHost, sourcePort, user, passfile);
        deleteTree(old);
        if (Files.exists(dataDir)) {
            Files.move(dataDir, old);
        }
        Files.move(fresh, dataDir);
        deleteTree(old);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /**
     * {@code standby.signal}, and {@code primary_conninfo} toward {@code sourceHost:sourcePort} with the password
     * from {@code passfile}, in place of any the data directory held (a copy brings the source's own), then this
     * node's settings file.
     */
    private void follow(String sourceHost, int sourcePort, String user, Path passfile) throws IOException {
        follow(dataDir(), sourceHost, sourcePort, user, passfile);
    }

    private void follow(Path data, String sourceHost, int sourcePort, String user, Path passfile) throws IOException {
        writeFile(data.resolve("standby.signal"), "");
        String primaryConninfo = "host=" + sourceHost + " port=" + sourcePort + " user=" + user + " application_name="
                + name + " passfile=" + Conninfo.value(passfile.toString());
        Path autoConf = data.resolve("postgresql.auto.conf");
        StringBuilder kept = new StringBuilder();
        if (Files.exists(autoConf)) {
            for (String line : Files.readAllLines(autoConf, StandardCharsets.UTF_8)) {
                if (!line.stripLeading().startsWith("primary_conninfo")) {
                    kept.append(line).append('\n');
                }
            }
        }
        kept.append("primary_conninfo = '").append(primaryConninfo.replace("'", "''")).append("'\n");
        writeFile(autoConf, kept.toString());
        writeNodeConf(data);
    }


    /**
     * Writes {@code file}, a libpq password file giving {@code user}'s password for any host, mode 0600 from its
     * creation, owned by the OS user PostgreSQL runs as (libpq ignores a password file others may read).
     */
    public static void writePassfile(OsCommand os, Path file, String user, String password) throws IOException {
        Files.deleteIfExists(file);
        Files.createFile(file, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
        String escaped = password.replace("\\", "\\\\").replace(":", "\\:");
        String escapedUser = user.replace("\\", "\\\\").replace(":", "\\:");
        Files.writeString(file, "*:*:*:" + escapedUser + ":" + escaped + "\n", StandardCharsets.UTF_8);
        os.chown(file);
    }

    public void start() throws IOException {
        OsCommand.Result r = os.run(List.of(tool("pg_ctl"), "-D", dataDir().toString(), "-l", logFile().toString(),
                "-w", "-t", "60", "start"), nodeDir, Map.of(), STEP_TIMEOUT);
        if (!r.ok()) {
            throw failure("start", r);
        }
    }

    public void stop(StopMode mode) throws IOException {
        if (status() != Status.RUNNING) {
            return;
        }
        OsCommand.Result r = os.run(List.of(tool("pg_ctl"), "-D", dataDir().toString(), "-m",
                mode.name().toLowerCase(java.util.Locale.ROOT), "-w", "-t", "60", "stop"), nodeDir, Map.of(), STEP_TIMEOUT);
        if (!r.ok() && status() == Status.RUNNING) {
            throw failure("stop", r);
        }
    }

    /** SIGKILL the postmaster and wait (up to 10 s) until it and all its children are gone. */
    public void kill() throws IOException {
        Optional<ProcessHandle> postmaster = postmaster();
        if (postmaster.isEmpty()) {
            return;
        }
        List<ProcessHandle> family = new ArrayList<>(postmaster.get().descendants().toList());
        family.add(postmaster.get());
        postmaster.get().destroyForcibly();
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (family.stream().anyMatch(LocalPostgres::running) && System.nanoTime() < deadline) {
            sleep(20);
        }
        family.stream().filter(LocalPostgres::running).forEach(ProcessHandle::destroyForcibly);
        if (family.stream().noneMatch(LocalPostgres::running)) {
            // a child still running (stuck in I/O past the SIGKILL) may hold the shared memory: the lock stays
            releaseLocksOfDeadPostmaster();
        }
    }

    /**
     * Ends, and waits up to {@code max} for, what is left of this stopped node's server: after a {@code kill -9} of
     * the postmaster its children exit on their own within a second or two, and pg_rewind's crash recovery or a
     * restart before that finds the old shared memory still in use. Call it only once the postmaster is gone. Its processes are the {@code postgres} ones whose working
     * folder is this data directory (the server changes into it). Returns whether none is left.
     */
    public boolean awaitOrphansGone(Duration max) throws IOException {
        long deadline = System.nanoTime() + max.toNanos();
        Path data;
        try {
            data = dataDir.toRealPath();
        } catch (IOException e) {
            return true; // no data directory: no server can run in it
        }
        while (true) {
            if (postmaster().isPresent()) {
                // still on its way out, or a server someone started in this data directory meanwhile: its children
                // are no leftovers, and none is touched while it is there
                if (System.nanoTime() >= deadline) {
                    return false;
                }
                sleep(50);
                continue;
            }
            List<ProcessHandle> left = ProcessHandle.allProcesses().filter(p -> runsIn(p, data)).toList();
            if (left.isEmpty()) {
                releaseLocksOfDeadPostmaster();
                return true;
            }
            // the postmaster is gone (its caller made sure): what is left are its children on their way out
            left.forEach(ProcessHandle::destroyForcibly);
            if (System.nanoTime() >= deadline) {
                return false;
            }
            sleep(50);
        }
    }

    /**
     * Removes the lock files of a killed postmaster its parent has not reaped yet. Such a zombie still answers
     * {@code kill(pid, 0)}, so PostgreSQL (a start, pg_rewind's crash recovery) takes {@code postmaster.pid} and the
     * socket's {@code .s.PGSQL.PORT.lock}, both naming it, for a running server's and refuses to start. Waiting is
     * no answer where PID 1 reaps orphans late (a container without an init, this CI machine's: about a second,
     * most of a fast rejoin): a zombie runs nothing, holds no socket and no shared memory, and the socket folder is
     * this node's own. Each file goes only while it names a zombie {@code postgres}; a live or reused pid keeps it.
     */
    public void releaseLocksOfDeadPostmaster() throws IOException {
        Path pidFile = dataDir.resolve("postmaster.pid");
        Optional<Long> pid = lockPid(pidFile);
        if (pid.isEmpty() || !deadPostgres(pid.get())) {
            return;
        }
        for (Path lock : List.of(nodeDir.resolve(".s.PGSQL." + port + ".lock"), pidFile)) {
            if (lockPid(lock).equals(pid) && deadPostgres(pid.get())) {
                Files.deleteIfExists(lock);
            }
        }
    }

    /** The pid a PostgreSQL lock file names (negative for a standalone backend: its absolute value). */
    private static Optional<Long> lockPid(Path lock) {
        try (java.io.BufferedReader in = Files.newBufferedReader(lock, StandardCharsets.UTF_8)) {
            String first = in.readLine();
            return first == null ? Optional.empty() : Optional.of(Math.abs(Long.parseLong(first.trim())));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** A zombie whose command was {@code postgres}: killed, not yet reaped. */
    private static boolean deadPostgres(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int end = stat.lastIndexOf(')');
            return stat.startsWith(pid + " (postgres)") && end + 2 < stat.length() && stat.charAt(end + 2) == 'Z';
        } catch (IOException | RuntimeException e) {
            return false; // reaped meanwhile: the file is stale, PostgreSQL itself sees that
        }
    }

    /** A {@code postgres} process (postmaster, child or standalone backend) whose working folder is {@code data}. */
    private static boolean runsIn(ProcessHandle p, Path data) {
        try {
            Path proc = Path.of("/proc", Long.toString(p.pid()));
            Path exe = Files.readSymbolicLink(proc.resolve("exe"));
            return exe.getFileName() != null && exe.getFileName().toString().equals("postgres")
                    && Files.readSymbolicLink(proc.resolve("cwd")).equals(data);
        } catch (IOException | RuntimeException e) {
            return false; // gone meanwhile, or not readable: not ours to wait for
        }
    }

    /**
     * Ends every pg_rewind and pg_basebackup still writing into this node's data directory or the clone beside it
     * (one an instance killed in the middle of a rejoin left behind), and waits for them; returns how many there
     * were.
     */
    public int killLeftoverTools() throws IOException {
        String data = dataDir.toString();
        String fresh = dataDir.resolveSibling(dataDir.getFileName() + ".metako-clone").toString();
        List<ProcessHandle> tools = ProcessHandle.allProcesses().filter(p -> {
            try {
                String[] args = new String(Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "cmdline")),
                        StandardCharsets.UTF_8).split("\0");
                boolean tool = args.length > 0 && (args[0].endsWith("pg_rewind") || args[0].endsWith("pg_basebackup"));
                return tool && java.util.Arrays.asList(args).stream().anyMatch(a -> a.equals(data) || a.equals(fresh));
            } catch (IOException | RuntimeException e) {
                return false;
            }
        }).toList();
        List<ProcessHandle> all = new ArrayList<>();
        for (ProcessHandle t : tools) {
            all.addAll(t.descendants().toList()); // pg_rewind's crash recovery runs a postgres --single under it
            all.add(t);
        }
        all.forEach(ProcessHandle::destroyForcibly);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (all.stream().anyMatch(LocalPostgres::running) && System.nanoTime() < deadline) {
            sleep(20);
        }
        if (all.stream().anyMatch(LocalPostgres::running)) {
            throw new PostgresException(name + ": a pg_rewind or pg_basebackup an earlier attempt left running did not"
                    + " end within 10 s of SIGKILL");
        }
        return tools.size();
    }

    public Status status() throws IOException {
        if (!Files.exists(dataDir().resolve("PG_VERSION"))) {
            return Status.NO_DATA;
        }
        return postmaster().isPresent() ? Status.RUNNING : Status.STOPPED;
    }

    /** The live postmaster, read from {@code postmaster.pid}. */
    public Optional<ProcessHandle> postmaster() throws IOException {
        Path pidFile = dataDir().resolve("postmaster.pid");
        List<String> lines;
        try {
            lines = Files.readAllLines(pidFile);
        } catch (java.nio.file.NoSuchFileException e) {
            return Optional.empty();
        }
        if (lines.isEmpty()) {
            return Optional.empty();
        }
        try {
            // negative: a standalone backend (postgres --single, as pg_rewind runs crash recovery)
            long pid = Math.abs(Long.parseLong(lines.get(0).trim()));
            Path data = realDataDir();
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).filter(h -> !zombie(h))
                    .filter(h -> data == null ? h.info().command().map(c -> c.endsWith("postgres")).orElse(true)
                            : runsIn(h, data)); // a pid reused by another process since is not this server
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    private Path realDataDir() {
        try {
            return dataDir.toRealPath();
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * A killed postmaster whose parent has not reaped it yet still "is alive" to {@code kill(pid, 0)}, and pg_ctl
     * then waits on it: it runs nothing any more.
     */
    /** Alive and not a zombie: a process that still runs. */
    public static boolean running(ProcessHandle h) {
        return h.isAlive() && !zombie(h);
    }

    private static boolean zombie(ProcessHandle h) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(h.pid()), "stat"));
            int end = stat.lastIndexOf(')');
            return end > 0 && end + 2 < stat.length() && stat.charAt(end + 2) == 'Z';
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The last {@code n} lines of this node's server log. */
    public String logTail(int n) {
        try {
            List<String> lines = Files.readAllLines(logFile(), StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
        } catch (IOException e) {
            return "(no server log at " + logFile() + ")";
        }
    }

    private void prepareNodeDir() throws IOException {
        if (Files.exists(dataDir().resolve("PG_VERSION"))) {
            throw new PostgresException(name + ": " + dataDir() + " already holds a PostgreSQL data directory");
        }
        Files.createDirectories(nodeDir);
        os.chown(nodeDir);
        if (os.runAs() != null) {
            OsCommand.Result r = os.run(List.of("test", "-w", nodeDir.toString()), Path.of("/"), Map.of(), STEP_TIMEOUT);
            if (!r.ok()) {
                throw new PostgresException(name + ": the OS user '" + os.runAs() + "' cannot write to " + nodeDir
                        + "; choose a folder whose parents others may enter (chmod o+x), e.g. under /tmp or /var/lib");
            }
        }
    }

    private void writeNodeConf() throws IOException {
        writeNodeConf(dataDir());
    }

    private void writeNodeConf(Path data) throws IOException {
        writeFile(data.resolve(NODE_CONF), String.join("\n",
                "# written by pg-metako: settings of node " + name + " only (rewritten after every copy)",
                "port = " + port,
                "listen_addresses = '" + host + "'",
                "unix_socket_directories = '" + nodeDir + "'",
                "cluster_name = '" + name + "'", ""));
    }

    private void run(String step, List<String> command, Map<String, String> env) throws IOException {
        OsCommand.Result r = os.run(command, nodeDir, env, STEP_TIMEOUT);
        if (!r.ok()) {
            throw failure(step, r);
        }
    }

    private PostgresException failure(String step, OsCommand.Result r) {
        return new PostgresException(name + ": " + step + " failed (exit " + r.exitCode() + "):\n"
                + r.output().strip() + "\n--- last lines of " + logFile() + " ---\n" + logTail(15));
    }

    private String tool(String name) {
        return bin.tool(name).toString();
    }

    /**
     * Before a stopped node that was a primary starts as it was left: {@code default_transaction_read_only = on} in
     * its {@code postgresql.auto.conf}, where ALTER SYSTEM keeps it. It starts fenced, as an old primary is fenced;
     * the Raft leader lifts the fence (ALTER SYSTEM RESET) once it sees the log's primary read-only, and never while
     * another node may take writes. A host that comes back cut off from the quorum thus takes no writes from clients
     * that keep the default (like every fence by this setting, a session can still SET it off: it stops mistakes,
     * not a client set on writing).
     */
    public void fenceBeforeStart() throws IOException {
        Path auto = dataDir().resolve("postgresql.auto.conf");
        StringBuilder text = new StringBuilder();
        if (Files.exists(auto)) {
            // ISO-8859-1 maps every byte to one char and back: the other settings are kept byte for byte
            for (String line : Files.readAllLines(auto, StandardCharsets.ISO_8859_1)) {
                if (!line.strip().startsWith("default_transaction_read_only")) {
                    text.append(line).append('\n');
                }
            }
        } else {
            text.append("# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n");
        }
        text.append("default_transaction_read_only = 'on'\n");
        // beside it, then renamed over it, as ALTER SYSTEM does: a failed write never leaves half a file
        Path temp = dataDir().resolve("postgresql.auto.conf.metako-tmp");
        Files.deleteIfExists(temp);
        Files.createFile(temp, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(temp, StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.ISO_8859_1)));
            ch.force(true);
        }
        os.chown(temp);
        Files.move(temp, auto, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private void writeFile(Path file, String text) throws IOException {
        Files.writeString(file, text, StandardCharsets.UTF_8);
        os.chown(file);
    }

    private void appendFile(Path file, String text) throws IOException {
        Files.writeString(file, text, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

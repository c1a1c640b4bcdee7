package io.metako.server.pg;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.server.demo.FreePorts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The node agent's PostgreSQL control against real server binaries. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LocalPostgresIT {
    private Path dir;
    private final List<LocalPostgres> started = new ArrayList<>();
    private final PgBinaries bin = PgBinaries.locate(System.getenv());
    private final OsCommand os = new OsCommand("postgres");

    @BeforeEach
    void folder() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "metako-pg-it-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (LocalPostgres pg : started) {
            pg.kill();
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private LocalPostgres node(String name, int port) {
        LocalPostgres pg = new LocalPostgres(bin, os, name, dir.resolve(name), "127.0.0.1", port);
        started.add(pg);
        return pg;
    }

    @Test
    void binariesAreVersion13OrNewer() {
        assertThat(bin.majorVersion()).isGreaterThanOrEqualTo(PgBinaries.OLDEST_SUPPORTED);
        assertThat(bin.tool("pg_basebackup")).isExecutable();
    }

    @Test
    void primaryIsReplicationReadyAndAReplicaStreamsFromItWithItsName() throws Exception {
        List<Integer> ports = FreePorts.take(2);
        LocalPostgres primary = node("p1", ports.get(0));
        assertThat(primary.status()).isEqualTo(LocalPostgres.Status.NO_DATA);
        primary.initPrimary("postgres", "pw-123");
        assertThat(primary.status()).isEqualTo(LocalPostgres.Status.STOPPED);
        primary.start();
        assertThat(primary.status()).isEqualTo(LocalPostgres.Status.RUNNING);
        LocalPostgres replica = node("r1", ports.get(1));
        java.nio.file.Path passfile = primary.dataDir().getParent().getParent().resolve("replication.pgpass");
        LocalPostgres.writePassfile(new OsCommand("postgres"), passfile, "postgres", "pw-123");
        replica.initReplica("127.0.0.1", primary.port(), "postgres", "pw-123", passfile);
        replica.start();
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + primary.port() + "/postgres",
                "postgres", "pw-123"); ResultSet rs = c.createStatement().executeQuery(
                "SELECT current_setting('wal_level'), current_setting('wal_log_hints'), "
                        + "(SELECT application_name FROM pg_stat_replication)")) {
            rs.next();
            assertThat(rs.getString(1)).isEqualTo("replica");
            assertThat(rs.getString(2)).isEqualTo("on");
            assertThat(rs.getString(3)).isEqualTo("r1");
        }
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + replica.port() + "/postgres",
                "postgres", "pw-123"); ResultSet rs = c.createStatement().executeQuery(
                "SELECT pg_is_in_recovery(), current_setting('port'), current_setting('cluster_name')")) {
            rs.next();
            assertThat(rs.getBoolean(1)).isTrue();
            assertThat(rs.getInt(2)).as("node settings rewritten after the copy").isEqualTo(replica.port());
            assertThat(rs.getString(3)).isEqualTo("r1");
        }
        // it streams with the password file: the password is in neither its settings nor its config files
        String autoConf = java.nio.file.Files.readString(replica.dataDir().resolve("postgresql.auto.conf"));
        assertThat(autoConf).contains("passfile=''" + passfile + "''").doesNotContain("pw-123");
        assertThat(java.nio.file.Files.getPosixFilePermissions(passfile))
                .isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        assertThat(java.nio.file.Files.getOwner(passfile).getName()).isEqualTo("postgres");
        assertThatThrownBy(() -> DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + primary.port() + "/postgres",
                "postgres", "wrong")).hasMessageContaining("password authentication failed");
    }

    private static String query(int port, String sql) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres",
                "postgres", "pw-r"); ResultSet rs = c.createStatement().executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private static void execute(int port, String sql) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres",
                "postgres", "pw-r")) {
            c.createStatement().execute(sql);
        }
    }

    @Test
    void aDivergedOldPrimaryIsRewoundAndFollowsTheNewTimeline() throws Exception {
        List<Integer> ports = FreePorts.take(2);
        LocalPostgres old = node("old", ports.get(0));
        old.initPrimary("postgres", "pw-r");
        old.start();
        execute(old.port(), "CREATE TABLE t (x text)");
        java.nio.file.Path passfile = dir.resolve("replication.pgpass");
        LocalPostgres.writePassfile(os, passfile, "postgres", "pw-r");
        LocalPostgres promoted = node("promoted", ports.get(1));
        promoted.initReplica("127.0.0.1", old.port(), "postgres", "pw-r", passfile);
        promoted.start();
        execute(old.port(), "INSERT INTO t VALUES ('before the fork')");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!"1".equals(query(promoted.port(), "SELECT count(*) FROM t")) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        // the fork: the replica is promoted while the old primary goes on taking writes, then is killed
        assertThat(query(promoted.port(), "SELECT pg_promote()")).isEqualTo("t");
        execute(promoted.port(), "INSERT INTO t VALUES ('on the new timeline')");
        execute(old.port(), "INSERT INTO t VALUES ('diverged')");
        execute(old.port(), "CHECKPOINT");
        // as the node agent does: the promoted node's control file names its new timeline only after a checkpoint
        // (pg_rewind reads it there, and says "no rewind required" before it)
        execute(promoted.port(), "CHECKPOINT");
        old.kill();

        long started = System.nanoTime();
        old.rewind("127.0.0.1", promoted.port(), "postgres", passfile);
        long rewoundMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        assertThat(Files.exists(old.dataDir().resolve("standby.signal"))).isTrue();
        String autoConf = Files.readString(old.dataDir().resolve("postgresql.auto.conf"));
        assertThat(autoConf).contains("port=" + promoted.port()).contains("application_name=old").contains("passfile=")
                .doesNotContain("pw-r");
        assertThat(autoConf.lines().filter(l -> l.startsWith("primary_conninfo"))).hasSize(1);
        old.start();
        assertThat(query(old.port(), "SELECT current_setting('port')")).as("its own settings, not the source's")
                .isEqualTo(Integer.toString(old.port()));
        assertThat(query(old.port(), "SELECT pg_is_in_recovery()")).isEqualTo("t");
        execute(promoted.port(), "INSERT INTO t VALUES ('after the rejoin')");
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!"3".equals(query(old.port(), "SELECT count(*) FROM t")) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(query(old.port(), "SELECT string_agg(x, ',' ORDER BY x) FROM t"))
                .as("the diverged row is gone, the new timeline's rows arrive")
                .isEqualTo("after the rejoin,before the fork,on the new timeline");
        assertThat(query(old.port(), "SELECT status || ' ' || received_tli FROM pg_stat_wal_receiver"))
                .isEqualTo("streaming 2");
        System.out.println("[rewind] pg_rewind of the killed old primary took " + rewoundMillis + " ms");
    }

    @Test
    void killLeavesNoProcessAndTheNodeRecoversOnStart() throws Exception {
        LocalPostgres pg = node("k1", FreePorts.take(1).get(0));
        pg.initPrimary("postgres", "pw");
        pg.start();
        ProcessHandle postmaster = pg.postmaster().orElseThrow();
        List<ProcessHandle> family = new ArrayList<>(postmaster.descendants().toList());
        assertThat(family).isNotEmpty();
        pg.kill();
        assertThat(LocalPostgres.running(postmaster)).isFalse(); // a zombie PID 1 has not reaped yet runs nothing
        assertThat(family).noneMatch(LocalPostgres::running);
        assertThat(pg.status()).isEqualTo(LocalPostgres.Status.STOPPED);
        pg.start();
        assertThat(pg.status()).isEqualTo(LocalPostgres.Status.RUNNING);
        pg.stop(LocalPostgres.StopMode.FAST);
        assertThat(pg.status()).isEqualTo(LocalPostgres.Status.STOPPED);
    }

    @Test
    void aKilledPostmastersChildrenAreEndedAndToolsAnEarlierRejoinLeftRunningToo() throws Exception {
        LocalPostgres pg = node("o1", FreePorts.take(1).get(0));
        pg.initPrimary("postgres", "pw");
        pg.start();
        ProcessHandle postmaster = pg.postmaster().orElseThrow();
        List<ProcessHandle> children = postmaster.descendants().toList();
        assertThat(children).isNotEmpty();
        // one child will not exit on its own: stopped, it must be ended
        assertThat(new ProcessBuilder("kill", "-STOP", Long.toString(children.get(0).pid())).start().waitFor()).isZero();
        postmaster.destroyForcibly(); // SIGKILL of the postmaster alone, as a crash or kill -9 leaves it
        try {
            assertThat(pg.awaitOrphansGone(java.time.Duration.ofSeconds(20))).isTrue();
            assertThat(children).as("ended (a zombie its parent has not reaped yet runs nothing)").noneMatch(LocalPostgres::running);
        } finally {
            children.forEach(ProcessHandle::destroyForcibly); // never leave the stopped one behind
        }
        assertThat(pg.status()).isEqualTo(LocalPostgres.Status.STOPPED);

        // a "pg_rewind" still writing into the data directory (argv as the real one has it), and one elsewhere
        Process leftover = new ProcessBuilder("bash", "-c", "exec -a pg_rewind perl -e 'sleep 600' -- -D "
                + pg.dataDir()).start();
        Process elsewhere = new ProcessBuilder("bash", "-c", "exec -a pg_rewind perl -e 'sleep 600' -- -D "
                + dir.resolve("another")).start();
        try {
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() ->
                    Files.readString(Path.of("/proc", Long.toString(leftover.pid()), "cmdline")).startsWith("pg_rewind"));
            assertThat(pg.killLeftoverTools()).isEqualTo(1);
            assertThat(leftover.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            assertThat(elsewhere.isAlive()).as("another node's tool is none of this node's business").isTrue();
        } finally {
            leftover.destroyForcibly();
            elsewhere.destroyForcibly();
        }
        pg.start();
        assertThat(pg.status()).isEqualTo(LocalPostgres.Status.RUNNING);
    }

    @Test
    void aKilledPostmasterItsParentNeverReapsStopsNoRestart() throws Exception {
        LocalPostgres pg = node("z1", FreePorts.take(1).get(0));
        pg.initPrimary("postgres", "pw");
        // a parent that never waits for its child, as an init that reaps orphans late (or never) is
        List<String> command = new ArrayList<>();
        if (os.runAs() != null) {
            command.addAll(List.of("runuser", "-u", os.runAs(), "--"));
        }
        command.addAll(List.of("perl", "-e", "if (!fork) { exec @ARGV or die } sleep 600", "--",
                bin.tool("postgres").toString(), "-D", pg.dataDir().toString()));
        Process parent = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("z1-parent.log").toFile()).start();
        try {
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30))
                    .until(() -> pg.postmaster().isPresent() && Files.exists(dir.resolve("z1").resolve(
                            ".s.PGSQL." + pg.port() + ".lock")));
            ProcessHandle postmaster = pg.postmaster().orElseThrow();
            postmaster.destroyForcibly();
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                    .until(() -> !LocalPostgres.running(postmaster));
            assertThat(postmaster.isAlive()).as("a zombie: killed, not reaped").isTrue();
            assertThat(pg.status()).isEqualTo(LocalPostgres.Status.STOPPED);

            assertThat(pg.awaitOrphansGone(java.time.Duration.ofSeconds(20))).isTrue();
            pg.start(); // refused while postmaster.pid or the socket's lock file names the zombie
            assertThat(pg.status()).isEqualTo(LocalPostgres.Status.RUNNING);
            assertThat(postmaster.isAlive()).as("still unreaped: the start did not wait for it").isTrue();
        } finally {
            parent.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            parent.destroyForcibly();
        }
    }

    @Test
    void aFailedStartCarriesPostgresOwnLogLines() throws Exception {
        int port = FreePorts.take(1).get(0);
        LocalPostgres first = node("a1", port);
        first.initPrimary("postgres", "pw");
        first.start();
        LocalPostgres second = node("a2", port);
        second.initPrimary("postgres", "pw");
        assertThatThrownBy(second::start).isInstanceOf(PostgresException.class)
                .hasMessageContaining("a2: start failed")
                .hasMessageContaining("Address already in use");
        assertThatThrownBy(() -> second.initPrimary("postgres", "pw")).hasMessageContaining("already holds");
    }

    @Test
    void debianFoldersAreTriedNewestFirst() throws Exception {
        for (String v : List.of("13", "16", "9", "notaversion")) {
            Files.createDirectories(dir.resolve("lib").resolve(v).resolve("bin"));
        }
        assertThat(PgBinaries.debianBinDirs(dir.resolve("lib"))).extracting(p -> p.getParent().getFileName().toString())
                .containsExactly("16", "13", "9");
    }

    @Test
    void missingBinariesExplainHowToFixIt() {
        assertThatThrownBy(() -> PgBinaries.locateIn(List.of(dir)))
                .hasMessageContaining("apt-get install -y postgresql").hasMessageContaining("METAKO_PG_BIN");
    }
}

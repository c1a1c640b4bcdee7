package io.metako.server.agent;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.server.config.ConfigLoader;
import io.metako.server.config.MetakoConfig;
import io.metako.server.demo.FreePorts;
import io.metako.server.pg.LocalPostgres;
import io.metako.server.pg.OsCommand;
import io.metako.server.pg.PgBinaries;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code metako --start-node} against a real PostgreSQL node: each state it may find the node in. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NodeStarterIT {
    private Path dir;
    private LocalPostgres pg;
    private final StringWriter out = new StringWriter();

    @BeforeEach
    void node() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "metako-start-node-it-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        pg = new LocalPostgres(PgBinaries.locate(System.getenv()), new OsCommand("postgres"), "pg-1", dir.resolve("pg-1"),
                "127.0.0.1", FreePorts.take(1).get(0));
        pg.initPrimary("postgres", "secret");
    }

    @AfterEach
    void cleanUp() throws Exception {
        pg.kill();
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private MetakoConfig config(Path dataDir, boolean manages) throws Exception {
        Path file = dir.resolve("metako-1.yaml");
        Files.writeString(file, "cluster_name: t\ninstance:\n  id: metako-1\n  raft_address: 127.0.0.1:7100\n"
                + "  grpc_address: 127.0.0.1:7200\n  storage_dir: " + dir.resolve("raft") + "\n  auth_token: token-of-enough-length\n"
                + (manages ? "  manages:\n    node: pg-1\n    data_dir: " + dataDir + "\n" : "")
                + "peers:\n  - id: metako-1\n    raft_address: 127.0.0.1:7100\n    grpc_address: 127.0.0.1:7200\n"
                + "nodes:\n  - name: pg-1\n    host: 127.0.0.1\n    port: " + pg.port() + "\n    role: primary\n"
                + "    username: postgres\n    password: secret\n");
        return ConfigLoader.withSystemEnv().load(file);
    }

    private int start(MetakoConfig config) {
        return NodeStarter.startIfStopped(config, new PrintWriter(out), new PrintWriter(out));
    }

    private String readOnly() throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pg.port() + "/postgres", "postgres", "secret");
             ResultSet rs = c.createStatement().executeQuery("SHOW default_transaction_read_only")) {
            rs.next();
            return rs.getString(1);
        }
    }

    @Test
    void aStoppedPrimaryStartsReadOnlyAndARunningOneIsLeftAlone() throws Exception {
        MetakoConfig config = config(pg.dataDir(), true);
        Path auto = pg.dataDir().resolve("postgresql.auto.conf");
        Files.writeString(auto, Files.readString(auto) + "work_mem = '7MB'\ndefault_transaction_read_only = 'off'\n");
        assertThat(start(config)).isZero();
        String rewritten = Files.readString(auto);
        assertThat(rewritten).as("other settings kept, one fence line").contains("work_mem = '7MB'")
                .doesNotContain("default_transaction_read_only = 'off'");
        assertThat(rewritten.lines().filter(l -> l.startsWith("default_transaction_read_only"))).hasSize(1);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(auto))).isEqualTo("rw-------");
        assertThat(out.toString()).contains("pg-1: started (a primary when it stopped, read-only until the Raft leader");
        assertThat(pg.status()).isEqualTo(LocalPostgres.Status.RUNNING);
        assertThat(readOnly()).as("fenced until the leader lifts it").isEqualTo("on");
        assertThat(Files.readString(pg.dataDir().resolve("postgresql.auto.conf"))).contains("default_transaction_read_only = 'on'");
        assertThat(start(config)).isZero();
        assertThat(out.toString()).contains("pg-1: running already");
    }

    @Test
    void aNodeWhoseRejoinDidNotFinishOrThatHasNoDataStaysStopped() throws Exception {
        Path marker = NodeAgent.rejoinMarker(pg.nodeDir(), pg.dataDir());
        Files.writeString(marker, "rejoin of pg-1 (attempt 1)\n");
        assertThat(start(config(pg.dataDir(), true))).isZero();
        assertThat(out.toString()).contains("pg-1: not started, a rewind or clone of it did not finish");
        assertThat(pg.status()).isEqualTo(LocalPostgres.Status.STOPPED);
        Files.delete(marker);

        assertThat(start(config(dir.resolve("missing"), true))).isZero();
        assertThat(out.toString()).contains("pg-1: not started, no data directory at " + dir.resolve("missing"));
        assertThat(pg.status()).isEqualTo(LocalPostgres.Status.STOPPED);

        assertThat(start(config(pg.dataDir(), false))).as("without instance.manages").isEqualTo(78);
        assertThat(out.toString()).contains("the file has no instance.manages");
    }
}

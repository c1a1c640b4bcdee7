package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.server.demo.LocalCluster;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * The statement router on proxy.port with pgjdbc, against a real primary, two streaming replicas
 * and three real instances: where statements land, transactions, prepared statements, batches,
 * read-only transactions, SET replay, read-your-writes, cancel and login errors.
 */
class RouterIT extends QuorumScenario {

    @Override
    Quorum startQuorum() throws IOException {
        return Quorum.start("500ms", "2s");
    }

    Connection proxy(int instance, String... props) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", LocalCluster.PROXY_USER);
        p.setProperty("password", q.cluster.password());
        p.setProperty("connectTimeout", "15");
        p.setProperty("socketTimeout", "60");
        for (int i = 0; i + 1 < props.length; i += 2) {
            p.setProperty(props[i], props[i + 1]);
        }
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + q.cluster.instances().get(instance).proxyPort()
                + "/postgres", p);
    }

    static String where(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT inet_server_port(), pg_is_in_recovery()")) {
            rs.next();
            return rs.getInt(1) + (rs.getBoolean(2) ? "/replica" : "/primary");
        }
    }

    int port(int node) {
        return q.cluster.nodes().get(node).port();
    }

    @Test
    @Order(1)
    void readsGoToReplicasAndWritesToThePrimary() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            assertThat(q.status(0).getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            for (var instance : q.instances) {
                assertThat(instance.routing().current().acceptsWrites()).isTrue();
                assertThat(instance.routing().current().replicas()).hasSize(2);
            }
        });
        try (Connection c = proxy(0); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE routed (id int primary key, note text)");
            st.execute("INSERT INTO routed VALUES (1, 'one')");
            assertThat(where(c)).as("right after its writes, the session reads on the primary (read-your-writes)")
                    .isEqualTo(port(0) + "/primary");
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(where(c))
                    .as("once the replicas have replayed the writes, reads go to them again").endsWith("/replica"));
        }
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < 40; i++) {
            try (Connection reader = proxy(1)) {
                String first = where(reader);
                seen.merge(first, 1, Integer::sum);
                for (int k = 0; k < 3; k++) {
                    assertThat(where(reader)).as("a session keeps reading from one replica (monotonic reads)").isEqualTo(first);
                }
            }
        }
        assertThat(seen).as("sessions' reads spread evenly over both replicas (round robin)")
                .containsOnlyKeys(port(1) + "/replica", port(2) + "/replica")
                .containsValues(20, 20);
        try (Connection reader = proxy(1); Statement st = reader.createStatement()) {
            try (ResultSet rs = st.executeQuery("INSERT INTO routed VALUES (2, 'two') RETURNING inet_server_port()")) {
                rs.next();
                assertThat(rs.getInt(1)).as("a write runs on the primary").isEqualTo(port(0));
            }
        }
    }

    @Test
    @Order(2)
    void aTransactionStaysOnOneNodeAndReadOnlyOnesMayUseAReplica() throws Exception {
        try (Connection c = proxy(1)) {
            c.setAutoCommit(false);
            String first = where(c);
            assertThat(first).as("a read-write transaction starts on the primary").isEqualTo(port(0) + "/primary");
            c.createStatement().execute("INSERT INTO routed VALUES (3, 'three')");
            for (int i = 0; i < 5; i++) {
                assertThat(where(c)).isEqualTo(first);
            }
            c.commit();
        }
        try (Connection c = proxy(1)) {
            c.setAutoCommit(false);
            c.setReadOnly(true);
            String ro = where(c);
            assertThat(ro).as("a read-only transaction may run on a replica").endsWith("/replica");
            for (int i = 0; i < 5; i++) {
                assertThat(where(c)).as("and stays there").isEqualTo(ro);
            }
            c.commit();
        }
    }

    @Test
    @Order(3)
    void preparedStatementsWorkOnEveryBackendTheSessionUses() throws Exception {
        for (String threshold : new String[] {"1", "5"}) {
            try (Connection c = proxy(2, "prepareThreshold", threshold);
                 PreparedStatement ps = c.prepareStatement("SELECT note, inet_server_port() FROM routed WHERE id = ?")) {
                Map<Integer, Integer> ports = new HashMap<>();
                for (int i = 0; i < 12; i++) {
                    ps.setInt(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).isEqualTo("one");
                        ports.merge(rs.getInt(2), 1, Integer::sum);
                    }
                }
                assertThat(ports).as("prepareThreshold=" + threshold + ": reads on the session's replica").hasSize(1)
                        .doesNotContainKey(port(0));
                c.setAutoCommit(false);
                c.createStatement().execute("SELECT 1 FROM routed FOR UPDATE"); // the transaction runs on the primary
                for (int i = 0; i < 6; i++) {
                    ps.setInt(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                        assertThat(rs.getString(1)).isEqualTo("one");
                        assertThat(rs.getInt(2)).as("the statement prepared on the replica runs on the primary too")
                                .isEqualTo(port(0));
                    }
                }
                c.commit();
                c.setAutoCommit(true);
                try (PreparedStatement ins = c.prepareStatement("INSERT INTO routed VALUES (?, ?)")) {
                    for (int i = 0; i < 3; i++) {
                        ins.setInt(1, 100 + i + 10 * Integer.parseInt(threshold));
                        ins.setString(2, "batch");
                        ins.addBatch();
                    }
                    assertThat(ins.executeBatch()).containsExactly(1, 1, 1);
                }
            }
        }
        try (Connection c = proxy(0); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("/* metako:primary */ SELECT count(*) FROM routed WHERE note = 'batch'")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(6);
        }
    }

    @Test
    @Order(4)
    void sessionSettingsReachEveryBackendOfTheSession() throws Exception {
        try (Connection c = proxy(0); Statement st = c.createStatement()) {
            st.execute("SET application_name = 'metako-router-it'");
            // a SET among other statements runs on the primary with them (pg_advisory_unlock_all needs the
            // primary), and still reaches the replicas the session reads from afterwards
            st.execute("SELECT pg_advisory_unlock_all(); SET work_mem = '7MB'");
            java.util.Set<Boolean> seenRecovery = new java.util.HashSet<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            for (int i = 0; i < 6 || (!seenRecovery.contains(true) && System.nanoTime() < deadline); i++) {
                try (ResultSet rs = st.executeQuery("SELECT current_setting('application_name'), inet_server_port(),"
                        + " current_setting('work_mem'), pg_is_in_recovery()")) {
                    rs.next();
                    assertThat(rs.getString(1)).as("on port " + rs.getInt(2)).isEqualTo("metako-router-it");
                    assertThat(rs.getString(3)).as("work_mem on port " + rs.getInt(2)).isEqualTo("7MB");
                    seenRecovery.add(rs.getBoolean(4));
                }
            }
            assertThat(seenRecovery).as("the reads reached a replica").contains(true);
            c.setAutoCommit(false);
            try (ResultSet rs = st.executeQuery("SELECT current_setting('application_name'), pg_is_in_recovery()")) {
                rs.next();
                assertThat(rs.getString(1)).as("on the primary too").isEqualTo("metako-router-it");
                assertThat(rs.getBoolean(2)).isFalse();
            }
            c.commit();
        }
    }

    @Test
    @Order(4)
    void aSessionWithATemporaryTableReadsItOnThePrimary() throws Exception {
        try (Connection c = proxy(2); Statement st = c.createStatement()) {
            st.execute("CREATE TEMP TABLE scratch AS SELECT 42 AS answer");
            for (int i = 0; i < 4; i++) {
                try (ResultSet rs = st.executeQuery("SELECT answer FROM scratch")) {
                    rs.next();
                    assertThat(rs.getInt(1)).isEqualTo(42);
                }
            }
        }
    }

    @Test
    @Order(5)
    void aSessionReadsItsOwnWrites() throws Exception {
        try (Connection c = proxy(1); Statement st = c.createStatement()) {
            for (int i = 0; i < 20; i++) {
                st.execute("INSERT INTO routed VALUES (" + (1000 + i) + ", 'ryw')");
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM routed WHERE id = " + (1000 + i))) {
                    rs.next();
                    assertThat(rs.getInt(1)).as("row %d is visible right after its insert", 1000 + i).isEqualTo(1);
                }
            }
        }
    }

    @Test
    @Order(6)
    void cancelStopsARunningStatement() throws Exception {
        try (Connection c = proxy(2); Statement st = c.createStatement()) {
            CompletableFuture<Void> cancel = CompletableFuture.runAsync(() -> {
                try {
                    TimeUnit.MILLISECONDS.sleep(700);
                    st.cancel();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> st.execute("SELECT pg_sleep(30)"))
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("57014"));
            assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).isLessThan(10);
            cancel.get(10, TimeUnit.SECONDS);
            assertThat(where(c)).as("the session goes on after the cancel").endsWith("/replica");
        }
    }

    @Test
    @Order(7)
    void aWrongPasswordOrUnknownUserIsRefusedAsPostgresDoes() {
        for (String user : new String[] {LocalCluster.PROXY_USER, "nobody"}) {
            Properties p = new Properties();
            p.setProperty("user", user);
            p.setProperty("password", "wrong-password");
            assertThatThrownBy(() -> DriverManager.getConnection("jdbc:postgresql://127.0.0.1:"
                    + q.cluster.instances().get(0).proxyPort() + "/postgres", p).close())
                    .isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("28P01"))
                    .hasMessageContaining("password authentication failed for user \"" + user + "\"")
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain(q.cluster.password()));
        }
    }

    @Test
    @Order(8)
    void aMissingDatabaseIsReportedAsPostgresReportsIt() {
        Properties p = new Properties();
        p.setProperty("user", LocalCluster.PROXY_USER);
        p.setProperty("password", q.cluster.password());
        assertThatThrownBy(() -> DriverManager.getConnection("jdbc:postgresql://127.0.0.1:"
                + q.cluster.instances().get(0).proxyPort() + "/no_such_db", p).close())
                .isInstanceOf(SQLException.class)
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("3D000"));
    }

    @Test
    @Order(9)
    void aNotificationArrivingWhileTheSessionReadsOnAReplicaIsDelivered() throws Exception {
        try (Connection listener = proxy(0); Connection notifier = proxy(1)) {
            listener.createStatement().execute("LISTEN metako_it"); // on the primary, which keeps the link
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(where(listener))
                    .as("reads back on a replica once it replayed past the LISTEN").endsWith("/replica"));
            CompletableFuture<Void> notify = CompletableFuture.runAsync(() -> {
                try {
                    TimeUnit.MILLISECONDS.sleep(400);
                    notifier.createStatement().execute("NOTIFY metako_it, 'while you were reading'");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            try (ResultSet rs = listener.createStatement().executeQuery("SELECT pg_sleep(1.5), pg_is_in_recovery()")) {
                rs.next();
                assertThat(rs.getBoolean(2)).as("the read ran on a replica while the primary link was idle").isTrue();
            }
            notify.get(10, TimeUnit.SECONDS);
            org.postgresql.PGNotification[] got = listener.unwrap(org.postgresql.PGConnection.class).getNotifications(5000);
            assertThat(got).isNotNull();
            assertThat(got).extracting(org.postgresql.PGNotification::getParameter).containsExactly("while you were reading");
        }
    }

    // ---- real command-line clients ------------------------------------------------------------

    /** Runs a client tool with the proxy password in its environment; returns exit code and output. */
    Result run(String stdin, String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PGPASSWORD", q.cluster.password());
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(170, TimeUnit.SECONDS)).as("%s finished", cmd[0]).isTrue();
        return new Result(p.exitValue(), out);
    }

    record Result(int exit, String output) {
    }

    String conninfo(int instance) {
        return "host=127.0.0.1 port=" + q.cluster.instances().get(instance).proxyPort() + " user=" + LocalCluster.PROXY_USER
                + " dbname=postgres connect_timeout=15";
    }

    @Test
    @Order(10)
    void psqlDescribesRunsMultiStatementStringsAndCopiesBothWays() throws Exception {
        Result d = run(null, "psql", conninfo(0), "-X", "-c", "\\d routed");
        assertThat(d.exit()).as(d.output()).isZero();
        assertThat(d.output()).contains("Table \"public.routed\"").contains("note").contains("routed_pkey");

        Result multi = run(null, "psql", conninfo(1), "-X", "-At", "-c",
                "CREATE TABLE IF NOT EXISTS multi (x int); INSERT INTO multi VALUES (1), (2); SELECT sum(x) FROM multi");
        assertThat(multi.exit()).as(multi.output()).isZero();
        assertThat(multi.output().strip().lines().toList()).as("one string, several statements, run together on the primary")
                .containsExactly("CREATE TABLE", "INSERT 0 2", "3");

        StringBuilder rows = new StringBuilder();
        for (int i = 0; i < 5000; i++) {
            rows.append(20000 + i).append('\t').append("copied ").append(i).append('\n');
        }
        Result in = run(rows.toString(), "psql", conninfo(2), "-X", "-c", "COPY routed (id, note) FROM STDIN");
        assertThat(in.exit()).as(in.output()).isZero();
        assertThat(in.output()).contains("COPY 5000");
        Result out = run(null, "psql", conninfo(0), "-X", "-c",
                "/* metako:primary */ COPY (SELECT id, note FROM routed WHERE note LIKE 'copied %' ORDER BY id) TO STDOUT");
        assertThat(out.exit()).as(out.output()).isZero();
        assertThat(out.output()).isEqualTo(rows.toString());
    }

    static final int PGBENCH_SECONDS = Integer.getInteger("metako.pgbench.seconds", 30);

    String pgbench() {
        return io.metako.server.pg.PgBinaries.locate(System.getenv()).tool("pgbench").toString();
    }

    @Test
    @Order(11)
    void pgbenchRunsWithoutErrorsInEveryQueryMode() throws Exception {
        String port = Integer.toString(q.cluster.instances().get(1).proxyPort());
        Result init = run(null, pgbench(), "-i", "-s", "1", "-h", "127.0.0.1", "-p", port, "-U", LocalCluster.PROXY_USER,
                "postgres");
        assertThat(init.exit()).as(init.output()).isZero();
        for (String mode : new String[] {"simple", "extended", "prepared"}) {
            Result r = run(null, pgbench(), "-M", mode, "-c", "8", "-j", "2", "-T", Integer.toString(PGBENCH_SECONDS),
                    "-h", "127.0.0.1", "-p", port, "-U", LocalCluster.PROXY_USER, "postgres");
            System.out.println("[pgbench -M " + mode + "]\n" + r.output());
            assertThat(r.exit()).as(r.output()).isZero();
            assertThat(r.output()).as("-M " + mode).contains("number of failed transactions: 0 (0.000%)")
                    .doesNotContain("aborted").containsPattern("number of transactions actually processed: [1-9]");
        }
    }

    /** What a test changes in instance 0's router settings for a router of its own (the record has no withers). */
    static final class Knobs {
        boolean leastConnections;
        io.metako.proxy.session.RouterSettings.ClientAuth clientAuth; // null: instance 0's
        java.util.Optional<io.netty.handler.ssl.SslContext> tls = java.util.Optional.empty();
        io.metako.proxy.session.RouterSettings.BackendTls backendTls; // null: instance 0's
        int backendIdleMax; // 0: no backend connection kept for reuse
        Duration backendIdleTimeout = Duration.ZERO;
        String backendUser; // null: instance 0's (then backendPassword too)
        String backendPassword;
        boolean cleartextToUnverified;
    }

    /** A statement router of the test's own on instance 0's routing table, with its settings changed as {@code knobs} says. */
    io.metako.proxy.session.StatementRouter ownRouter(io.metako.proxy.net.ProxyEventLoops loops,
                                                      java.util.function.Consumer<Knobs> knobs) throws Exception {
        Knobs k = new Knobs();
        knobs.accept(k);
        io.metako.proxy.session.RouterSettings s = io.metako.server.routing.ProxyPorts.routerSettings(q.config(0), k.leastConnections);
        var login = s.backendLogin();
        java.util.function.Function<String, io.metako.proxy.session.RouterSettings.BackendLogin> logins =
                k.backendTls == null && k.backendUser == null ? login
                : name -> new io.metako.proxy.session.RouterSettings.BackendLogin(
                        k.backendUser != null ? k.backendUser : login.apply(name).user(),
                        k.backendUser != null ? k.backendPassword : login.apply(name).password(),
                        k.backendTls != null ? k.backendTls : login.apply(name).tls(), k.cleartextToUnverified);
        s = new io.metako.proxy.session.RouterSettings(s.maxMessageSize(), s.maxClientConnections(), s.startupTimeout(),
                s.failoverWait(), s.staleReads(), k.leastConnections, k.clientAuth != null ? k.clientAuth : s.clientAuth(),
                s.users(), logins, k.tls, k.backendIdleMax, k.backendIdleTimeout);
        var instance = q.instances[0];
        return new io.metako.proxy.session.StatementRouter(s, () -> instance.routing().current(), loops).start("127.0.0.1", 0);
    }

    Connection through(io.metako.proxy.session.StatementRouter router, String... props) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", LocalCluster.PROXY_USER);
        p.setProperty("password", q.cluster.password());
        for (int i = 0; i + 1 < props.length; i += 2) {
            p.setProperty(props[i], props[i + 1]);
        }
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + router.port() + "/postgres", p);
    }

    @Test
    @Order(12)
    void leastConnectionsSendsReadsToTheIdleReplica() throws Exception {
        var loops = io.metako.proxy.net.ProxyEventLoops.create(1);
        try (var router = ownRouter(loops, k -> k.leastConnections = true);
             Connection busy = through(router); Connection reader = through(router)) {
            busy.setAutoCommit(false);
            busy.setReadOnly(true);
            String held = where(busy); // a read-only transaction holds one replica's connection open
            assertThat(held).endsWith("/replica");
            String idleReplica = (held.startsWith(port(1) + "/") ? port(2) : port(1)) + "/replica";
            assertThat(where(reader)).as("the replica with no open connection gets the read").isEqualTo(idleReplica);
            busy.commit();
        } finally {
            loops.close();
        }
    }

    static String onPrimary(Statement st, String sql) throws SQLException {
        try (ResultSet rs = st.executeQuery("/* metako:primary */ " + sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    static long count(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    @Order(14)
    void aBackendConnectionServesTheNextSessionOnlyOnceDiscardAllHasResetIt() throws Exception {
        var loops = io.metako.proxy.net.ProxyEventLoops.create(1); // a session reuses what its own loop kept
        try (var router = ownRouter(loops, k -> {
            k.backendIdleMax = 5;
            k.backendIdleTimeout = Duration.ofSeconds(30);
        }); Connection direct = q.connect(0)) {
            String first;
            try (Connection c = through(router); Statement st = c.createStatement()) {
                first = onPrimary(st, "SELECT pg_backend_pid()");
                st.execute("SET statement_timeout = '4321s'");
                st.execute("CREATE TEMP TABLE pooled_scratch (x int)");
                st.execute("PREPARE pooled_plan AS SELECT 1");
                st.execute("SELECT pg_advisory_lock(4242)");
                st.execute("LISTEN pooled_channel");
                assertThat(onPrimary(st, "SELECT current_setting('statement_timeout')")).isEqualTo("4321s");
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> router.idleBackendConnections() >= 1);
            assertThat(count(direct, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
                    .as("the reset released the session's advisory lock").isZero();
            try (Connection c = through(router); Statement st = c.createStatement()) {
                assertThat(onPrimary(st, "SELECT pg_backend_pid()")).as("the same server process serves the next session")
                        .isEqualTo(first);
                assertThat(onPrimary(st, "SELECT current_setting('statement_timeout')")).isEqualTo("0");
                assertThat(onPrimary(st, "SELECT count(*) FROM pg_prepared_statements")).isEqualTo("0");
                assertThat(onPrimary(st, "SELECT coalesce(to_regclass('pooled_scratch')::text, 'none')")).isEqualTo("none");
                assertThat(onPrimary(st, "SELECT count(*) FROM pg_listening_channels()")).isEqualTo("0");
            }
            String inTransaction;
            try (Connection c = through(router); Statement st = c.createStatement()) {
                c.setAutoCommit(false);
                inTransaction = onPrimary(st, "SELECT pg_backend_pid()");
                st.execute("INSERT INTO routed VALUES (14, 'never committed')");
            }
            await().atMost(Duration.ofSeconds(10)).until(() ->
                    count(direct, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + inTransaction) == 0);
            assertThat(count(direct, "SELECT count(*) FROM routed WHERE id = 14"))
                    .as("a session that ended inside a transaction: its connection was closed, so it rolled back").isZero();
        } finally {
            loops.close();
        }
    }

    @Test
    @Order(15)
    void statusShowsTheProxysSessionsAndItsBackendConnectionsInUseAndKept() throws Exception {
        String primary = q.status(2).getPrimary();
        try (Connection c = proxy(2); Statement st = c.createStatement()) {
            st.execute("INSERT INTO routed VALUES (15, 'seen in the status')");
            io.metako.proto.v1.ProxyStatus during = q.status(2).getProxy();
            assertThat(during.getClientSessions()).as("this session, through instance 2").isGreaterThanOrEqualTo(1);
            assertThat(during.getBackendsList()).as("the session holds a connection to the primary")
                    .anySatisfy(b -> {
                        assertThat(b.getNode()).isEqualTo(primary);
                        assertThat(b.getInUse()).isGreaterThanOrEqualTo(1);
                    });
        }
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(q.status(2).getProxy().getBackendsList())
                .as("once the session ended, its primary connection is kept for the next one").anySatisfy(b -> {
                    assertThat(b.getNode()).isEqualTo(primary);
                    assertThat(b.getKept()).isGreaterThanOrEqualTo(1);
                }));
    }

    @Test
    @Order(16)
    void theUnnamedStatementParsedInOneUnitRunsInTheNextThoughThatGoesToAnotherBackend() throws Exception {
        var loops = io.metako.proxy.net.ProxyEventLoops.create(1);
        String primary = q.instances[0].routing().current().primary().orElseThrow().name();
        // cleartext, so that a raw client can log in
        try (var router = ownRouter(loops, k -> k.clientAuth = io.metako.proxy.session.RouterSettings.ClientAuth.PASSWORD);
             RawPgClient c = new RawPgClient(router.port())) {
            assertThat(c.login(LocalCluster.PROXY_USER, "postgres", q.cluster.password()).errors()).isEmpty();
            // as pgx's describe-exec mode does: Parse and Describe in one unit, Bind and Execute in the next
            c.parse("", "INSERT INTO routed VALUES (16, 'once') ON CONFLICT (id) DO UPDATE SET note = routed.note || '+'");
            c.describeStatement("");
            c.sync();
            assertThat(c.readUntilReady().types()).as("ParseComplete, ParameterDescription, NoData").isEqualTo("1tnZ");
            assertThat(router.backendConnections()).as("a unit that only parses goes where reads go: a replica")
                    .anySatisfy(b -> assertThat(b.node()).isNotEqualTo(primary));
            c.bindExecuteSync("");
            RawPgClient.Answer first = c.readUntilReady();
            assertThat(first.errors()).as("the write's Bind went to the primary, which had not seen the Parse").isEmpty();
            assertThat(first.types()).as("BindComplete, CommandComplete: the Parse sent for it is not relayed").isEqualTo("2CZ");
            c.bindExecuteSync("");
            RawPgClient.Answer second = c.readUntilReady();
            assertThat(second.errors()).as("the proxy's own query after the write (read-your-writes) dropped the unnamed"
                    + " statement on the primary: it is parsed there again").isEmpty();
            assertThat(second.types()).isEqualTo("2CZ");
        } finally {
            loops.close();
        }
        try (Connection direct = q.connect(0); Statement st = direct.createStatement();
             ResultSet rs = st.executeQuery("SELECT note FROM routed WHERE id = 16")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).as("both executions ran, once each").isEqualTo("once+");
        }
    }

    @Test
    @Order(16)
    void deallocateDropsAStatementOnEveryBackendAndItsNameCanBePreparedAgain() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> assertThat(q.instances[0].routing().current().replicas())
                .as("reads may go to a replica").anySatisfy(r -> assertThat(r.loadBalanced()).isTrue()));
        var loops = io.metako.proxy.net.ProxyEventLoops.create(1);
        try (var router = ownRouter(loops, k -> k.clientAuth = io.metako.proxy.session.RouterSettings.ClientAuth.PASSWORD);
             RawPgClient c = new RawPgClient(router.port())) {
            assertThat(c.login(LocalCluster.PROXY_USER, "postgres", q.cluster.password()).errors()).isEmpty();
            // as pgx does: prepare with Parse (a unit that only parses goes where reads go: a replica), drop with SQL
            c.parse("s1", "SELECT 'old ' || pg_is_in_recovery()");
            c.sync();
            assertThat(c.readUntilReady().types()).isEqualTo("1Z");
            c.bindExecuteSync("s1");
            assertThat(c.readUntilReady().rows()).as("s1 runs on a replica").containsExactly("old true");
            c.query("DEALLOCATE s1");
            RawPgClient.Answer dropped = c.readUntilReady();
            assertThat(dropped.errors()).as("DEALLOCATE runs on the replica that holds s1").isEmpty();
            assertThat(dropped.types()).isEqualTo("CZ");
            c.bindExecuteSync("s1");
            assertThat(c.readUntilReady().errors()).as("gone for the session, as on a server without a proxy")
                    .singleElement().asString().contains("26000");
            c.query("BEGIN");
            c.readUntilReady();
            c.bindExecuteSync("s1");
            assertThat(c.readUntilReady().errors()).as("nor parsed again on the primary, which never had it")
                    .singleElement().asString().contains("26000");
            c.query("ROLLBACK");
            assertThat(c.readUntilReady().errors()).isEmpty();

            c.parse("s1", "SELECT 'new ' || pg_is_in_recovery()");
            c.sync();
            assertThat(c.readUntilReady()).as("the name is free on the replica")
                    .satisfies(a -> assertThat(a.errors()).isEmpty()).satisfies(a -> assertThat(a.types()).isEqualTo("1Z"));
            c.bindExecuteSync("s1");
            assertThat(c.readUntilReady().rows()).as("the new text on the replica").containsExactly("new true");
            c.query("BEGIN");
            assertThat(c.readUntilReady().errors()).isEmpty();
            c.bindExecuteSync("s1");
            assertThat(c.readUntilReady().rows()).as("the new text on the primary").containsExactly("new false");
            c.query("COMMIT");
            assertThat(c.readUntilReady().errors()).isEmpty();

            // s2 on both backends: DEALLOCATE runs on one; the other closes it before s2 is prepared there again
            c.parse("s2", "SELECT 'two ' || pg_is_in_recovery()");
            c.sync();
            assertThat(c.readUntilReady().errors()).isEmpty();
            c.query("BEGIN");
            c.readUntilReady();
            c.bindExecuteSync("s2");
            assertThat(c.readUntilReady().rows()).as("parsed on the primary for the transaction").containsExactly("two false");
            c.query("COMMIT");
            c.readUntilReady();
            c.query("DEALLOCATE s2");
            assertThat(c.readUntilReady().errors()).isEmpty();
            c.query("BEGIN");
            c.readUntilReady();
            c.parse("s2", "SELECT 'three ' || pg_is_in_recovery()");
            c.bindExecuteSync("s2");
            assertThat(c.readUntilReady()).as("the name is free on the primary").satisfies(a -> assertThat(a.errors()).isEmpty())
                    .satisfies(a -> assertThat(a.rows()).containsExactly("three false"));
            c.query("COMMIT");
            c.readUntilReady();
            c.bindExecuteSync("s2");
            assertThat(c.readUntilReady().rows()).as("and the replica runs the new text").containsExactly("three true");

            c.query("DEALLOCATE ALL");
            assertThat(c.readUntilReady().errors()).isEmpty();
            c.parse("s1", "SELECT 'again ' || pg_is_in_recovery()");
            c.sync();
            assertThat(c.readUntilReady().errors()).as("the name is free on the replica as well").isEmpty();
            c.bindExecuteSync("s1");
            assertThat(c.readUntilReady().rows()).containsExactly("again true");
            c.query("BEGIN");
            c.readUntilReady();
            c.bindExecuteSync("s1");
            assertThat(c.readUntilReady().rows()).as("and the primary parses the newest text").containsExactly("again false");
            c.query("COMMIT");
            assertThat(c.readUntilReady().errors()).isEmpty();

            // a unit pipelined behind a DEALLOCATE that runs on a replica is routed on its own, not sent along
            // (last: after its write, read-your-writes keeps this session's reads on the primary for a while)
            c.parse("s3", "SELECT 1");
            c.sync();
            assertThat(c.readUntilReady().errors()).isEmpty();
            c.query("DEALLOCATE s3");
            c.query("SELECT 'written ' || pg_is_in_recovery(), txid_current()");
            assertThat(c.readUntilReady().errors()).isEmpty();
            assertThat(c.readUntilReady()).as("the write went to the primary").satisfies(a -> assertThat(a.errors()).isEmpty())
                    .satisfies(a -> assertThat(a.rows()).containsExactly("written false"));
        } finally {
            loops.close();
        }
    }

    @Test
    @Order(17)
    void backendConnectionsUseTlsAsBackendSslmodeSays(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        var instance = q.instances[0];
        String primaryName = instance.routing().current().primary().orElseThrow().name();
        var primary = q.cluster.nodes().stream().filter(n -> n.name().equals(primaryName)).findFirst().orElseThrow();
        java.nio.file.Path cert = dir.resolve("node.crt");
        java.nio.file.Path key = dir.resolve("node.key");
        java.nio.file.Path stranger = dir.resolve("stranger.crt");
        for (String[] c : new String[][] {{cert.toString(), key.toString(), "IP:127.0.0.1"},
                {stranger.toString(), dir.resolve("stranger.key").toString(), "DNS:elsewhere.invalid"}}) {
            Result gen = run(null, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=metako-test", "-addext", "subjectAltName=" + c[2], "-keyout", c[1], "-out", c[0]);
            assertThat(gen.exit()).as(gen.output()).isZero();
        }
        java.nio.file.Files.copy(cert, primary.dataDir().resolve("server.crt"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        java.nio.file.Files.copy(key, primary.dataDir().resolve("server.key"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        for (String f : new String[] {"server.crt", "server.key"}) {
            assertThat(run(null, "chown", "postgres", primary.dataDir().resolve(f).toString()).exit()).isZero();
            assertThat(run(null, "chmod", "600", primary.dataDir().resolve(f).toString()).exit()).isZero();
        }
        var loops = io.metako.proxy.net.ProxyEventLoops.create(1);
        try (Connection direct = q.connect(0); Statement admin = direct.createStatement()) {
            admin.execute("ALTER SYSTEM SET ssl = on");
            admin.execute("SELECT pg_reload_conf()");
            await().atMost(Duration.ofSeconds(10)).until(() -> onPrimary(admin, "SHOW ssl").equals("on"));

            var trusted = io.netty.handler.ssl.SslContextBuilder.forClient().trustManager(cert.toFile()).build();
            try (var router = ownRouter(loops, k -> k.backendTls = new io.metako.proxy.session.RouterSettings.BackendTls(
                    io.metako.proxy.session.RouterSettings.SslMode.VERIFY_FULL, trusted));
                 Connection c = through(router); Statement st = c.createStatement()) {
                assertThat(onPrimary(st, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
                        .as("verify-full: the certificate chains to the root and names 127.0.0.1").isEqualTo("true");
                assertThatThrownBy(() -> where(c)).as("require-like modes refuse a node without TLS (the replicas)")
                        .hasMessageContaining("does not accept TLS connections")
                        .hasMessageContaining("backend_sslmode is verify-full");
            }
            var untrusted = io.netty.handler.ssl.SslContextBuilder.forClient().trustManager(stranger.toFile()).build();
            try (var router = ownRouter(loops, k -> k.backendTls = new io.metako.proxy.session.RouterSettings.BackendTls(
                    io.metako.proxy.session.RouterSettings.SslMode.VERIFY_CA, untrusted))) {
                assertThatThrownBy(() -> through(router).close()).as("a certificate not signed by the configured root")
                        .hasMessageContaining("TLS handshake with node " + primaryName);
            }
            var anyCert = io.netty.handler.ssl.SslContextBuilder.forClient()
                    .trustManager(io.netty.handler.ssl.util.InsecureTrustManagerFactory.INSTANCE).build();
            try (var router = ownRouter(loops, k -> k.backendTls = new io.metako.proxy.session.RouterSettings.BackendTls(
                    io.metako.proxy.session.RouterSettings.SslMode.PREFER, anyCert));
                 Connection c = through(router); Statement st = c.createStatement()) {
                assertThat(onPrimary(st, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
                        .as("prefer: TLS where the node offers it").isEqualTo("true");
                assertThat(where(c)).as("prefer: plain text where it does not").endsWith("/replica");
            }
        } finally {
            try (Connection direct = q.connect(0); Statement admin = direct.createStatement()) {
                admin.execute("ALTER SYSTEM RESET ssl");
                admin.execute("SELECT pg_reload_conf()");
            }
            loops.close();
        }
    }


    @Test
    @Order(18)
    void aNodeAskingForAClearTextPasswordOverAnUnverifiedLinkIsRefused() throws Exception {
        var hba = "host all clear_user 127.0.0.1/32 password\n";
        var loops = io.metako.proxy.net.ProxyEventLoops.create(1);
        try (Connection direct = q.connect(0); Statement admin = direct.createStatement()) {
            admin.execute("CREATE ROLE clear_user LOGIN PASSWORD 'clear-text-pw'");
            for (var node : q.cluster.nodes()) { // the role replicates; each node's pg_hba.conf asks it for a clear-text password
                java.nio.file.Path file = node.dataDir().resolve("pg_hba.conf");
                java.nio.file.Files.writeString(file, hba + java.nio.file.Files.readString(file));
                assertThat(run(null, "runuser", "-u", "postgres", "--", io.metako.server.pg.PgBinaries.locate(System.getenv())
                        .tool("pg_ctl").toString(), "-D", node.dataDir().toString(), "reload").exit()).isZero();
            }
            Thread.sleep(500);
            try (var router = ownRouter(loops, k -> {
                k.backendUser = "clear_user";
                k.backendPassword = "clear-text-pw";
                k.backendTls = io.metako.proxy.session.RouterSettings.BackendTls.DISABLED;
            })) {
                assertThatThrownBy(() -> {
                    try (Connection c = through(router)) {
                        where(c);
                    }
                }).as("the password is not sent to a node whose certificate is not verified")
                        .hasMessageContaining("asks for the password in clear text")
                        .hasMessageContaining("security.backend_allow_cleartext_password");
            }
            try (var router = ownRouter(loops, k -> {
                k.backendUser = "clear_user";
                k.backendPassword = "clear-text-pw";
                k.backendTls = io.metako.proxy.session.RouterSettings.BackendTls.DISABLED;
                k.cleartextToUnverified = true;
            }); Connection c = through(router); Statement st = c.createStatement()) {
                assertThat(onPrimary(st, "SELECT current_user")).as("allowed when configured").isEqualTo("clear_user");
            }
        } finally {
            for (var node : q.cluster.nodes()) {
                java.nio.file.Path file = node.dataDir().resolve("pg_hba.conf");
                java.nio.file.Files.writeString(file, java.nio.file.Files.readString(file).replace(hba, ""));
                run(null, "runuser", "-u", "postgres", "--", io.metako.server.pg.PgBinaries.locate(System.getenv())
                        .tool("pg_ctl").toString(), "-D", node.dataDir().toString(), "reload");
            }
            try (Connection direct = q.connect(0); Statement admin = direct.createStatement()) {
                admin.execute("DROP ROLE IF EXISTS clear_user");
            }
            loops.close();
        }
    }

    @Test
    @Order(13)
    void tlsIsOfferedWithTheConfiguredCertificate(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path cert = dir.resolve("cert.pem");
        java.nio.file.Path key = dir.resolve("key.pem");
        Result gen = run(null, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-keyout", key.toString(), "-out", cert.toString());
        assertThat(gen.exit()).as(gen.output()).isZero();
        var ctx = io.netty.handler.ssl.SslContextBuilder.forServer(cert.toFile(), key.toFile()).build();
        var loops = io.metako.proxy.net.ProxyEventLoops.create(1);
        try (var router = ownRouter(loops, k -> k.tls = java.util.Optional.of(ctx))) {
            try (Connection c = through(router, "sslmode", "require"); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT 1")) {
                assertThat(rs.next()).isTrue();
            }
            Result psql = run(null, "psql", "host=127.0.0.1 port=" + router.port() + " user=" + LocalCluster.PROXY_USER
                    + " dbname=postgres sslmode=require", "-X", "-At", "-c", "SELECT 'over tls'", "-c", "\\conninfo");
            assertThat(psql.exit()).as(psql.output()).isZero();
            assertThat(psql.output()).contains("over tls").containsPattern("SSL connection \\(protocol: TLSv1\\.[23]");
        } finally {
            loops.close();
        }
    }

    @Test
    @Order(20)
    void aFailoverEndsTheOpenTransactionAndTheRestCarriesOnOnTheNewPrimary() throws Exception {
        Connection inTransaction = proxy(0);
        inTransaction.setAutoCommit(false);
        inTransaction.createStatement().execute("INSERT INTO routed VALUES (-1, 'in flight')");
        Connection idle = proxy(0);
        idle.createStatement().execute("INSERT INTO routed VALUES (-2, 'before')");

        String port = Integer.toString(q.cluster.instances().get(2).proxyPort());
        ProcessBuilder pb = new ProcessBuilder(pgbench(), "-c", "8", "-j", "2", "-T", "30", "-R", "40", "-P", "1",
                "-h", "127.0.0.1", "-p", port, "-U", LocalCluster.PROXY_USER, "postgres").redirectErrorStream(true);
        pb.environment().put("PGPASSWORD", q.cluster.password());
        Process bench = pb.start();
        CompletableFuture<String> benchOut = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(bench.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try {
            TimeUnit.SECONDS.sleep(8);
            q.cluster.nodes().get(0).kill();
            await().atMost(CONVERGE).untilAsserted(() -> {
                assertThat(q.status(0).getEpoch()).isEqualTo(2);
                assertThat(q.status(0).getPrimary()).as("failover completed").isNotEmpty();
            });
            java.sql.Timestamp failedOver = new java.sql.Timestamp(System.currentTimeMillis());
            String newPrimary = q.status(0).getPrimary();
            int newPort = port(Integer.parseInt(newPrimary.substring(3)) - 1);

            assertThatThrownBy(() -> inTransaction.createStatement().execute("INSERT INTO routed VALUES (-3, 'after')"))
                    .as("the transaction that was open on the old primary fails").isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isIn("57P01", "08006"));
            try (ResultSet rs = idle.createStatement().executeQuery(
                    "INSERT INTO routed VALUES (-4, 'after') RETURNING inet_server_port()")) {
                rs.next();
                assertThat(rs.getInt(1)).as("an idle session writes on the new primary, same connection").isEqualTo(newPort);
            }

            String out = benchOut.get(60, TimeUnit.SECONDS);
            System.out.println("[pgbench across the failover]\n" + out);
            long aborted = out.lines().filter(l -> l.contains("aborted")).count();
            assertThat(aborted).as("only clients with a transaction in flight at the kill fail").isLessThan(8);
            try (Connection direct = DriverManager.getConnection(q.cluster.jdbcUrl(q.cluster.nodes().get(newPort == port(1) ? 1 : 2)),
                    LocalCluster.SUPERUSER, q.cluster.password());
                 PreparedStatement ps = direct.prepareStatement("SELECT count(*) FROM pgbench_history WHERE mtime > ?")) {
                ps.setTimestamp(1, failedOver);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertThat(rs.getLong(1)).as("pgbench went on committing on the new primary after the failover")
                            .isPositive();
                }
            }
        } finally {
            bench.destroy();
            inTransaction.close();
            idle.close();
        }
    }
}

package io.metako.server.health;

import io.metako.proto.v1.NodeObservation;
import io.metako.server.DaemonThreads;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Probes one PostgreSQL node over a kept-open pgjdbc connection. The timeout is enforced from
 * outside the driver: a probe that has not answered in time is abandoned and its connection
 * aborted, so a frozen (SIGSTOPped) server never hangs the prober, and a probe that is still
 * stuck makes the next ones fail at once instead of piling up.
 */
final class NodeProber implements AutoCloseable {
    /*
     * The receiver's age reads clock_timestamp(), not now(): now() is when the statement started, and a replica under
     * write load receives WAL while the probe runs, so now() - last_msg_receipt_time came out negative, which the
     * streaming veto read as "no proof", and it flickered off (the fault harness saw two unneeded failovers).
     */
    private static final String PROBE_SQL = """
            SELECT pg_is_in_recovery(),
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
                   pg_last_wal_receive_lsn()::text,
                   pg_last_wal_replay_lsn()::text,
                   CASE WHEN NOT pg_is_in_recovery() THEN 0
                        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END,
                   CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli::text FROM pg_stat_wal_receiver)
                        ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END,
                   current_setting('server_version'),
                   (SELECT sender_host FROM pg_stat_wal_receiver),
                   (SELECT sender_port FROM pg_stat_wal_receiver),
                   (SELECT status FROM pg_stat_wal_receiver),
                   current_setting('default_transaction_read_only')::bool,
                   (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
                        AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
                        AND application_name <> 'pg-metako probe'),
                   (SELECT CASE WHEN last_msg_receipt_time IS NULL THEN NULL
                                ELSE GREATEST(0, (EXTRACT(EPOCH FROM clock_timestamp() - last_msg_receipt_time) * 1000)::bigint)
                           END FROM pg_stat_wal_receiver),
                   current_setting('synchronous_standby_names'),
                   (EXTRACT(EPOCH FROM pg_postmaster_start_time()) * 1000000)::bigint
            """;

    private final ProbeTarget target;
    private final ExecutorService worker;
    private volatile Connection connection;
    private Future<NodeObservation> stuck;

    NodeProber(ProbeTarget target) {
        this.target = target;
        this.worker = Executors.newSingleThreadExecutor(DaemonThreads.named("probe-" + target.name()));
    }

    ProbeTarget target() {
        return target;
    }

    /** One probe, bounded by {@code timeout}; a failure is an observation with {@code reachable=false}. */
    NodeObservation probe(Duration timeout, long nowMillis) {
        if (stuck != null && !stuck.isDone()) {
            abortConnection();
            return failed("previous probe still has no answer after its timeout", nowMillis);
        }
        stuck = null;
        Future<NodeObservation> f = worker.submit(() -> query(timeout, nowMillis));
        try {
            return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            stuck = f;
            abortConnection();
            f.cancel(true);
            return failed("no answer within " + timeout.toMillis() + "ms", nowMillis);
        } catch (ExecutionException e) {
            abortConnection();
            return failed(describe(e.getCause()), nowMillis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return failed("interrupted", nowMillis);
        }
    }

    private NodeObservation query(Duration timeout, long nowMillis) throws SQLException {
        Connection c = connection;
        if (c == null || c.isClosed()) {
            c = connect(timeout);
            connection = c;
            return observe(c, nowMillis);
        }
        try {
            return observe(c, nowMillis);
        } catch (SQLException e) {
            // A kept connection may have been ended under the probe (a fence ends every client session, ours
            // too): one new connection decides whether the node is reachable, not the old one's death.
            abortConnection();
            c = connect(timeout);
            connection = c;
            return observe(c, nowMillis);
        }
    }

    private NodeObservation observe(Connection c, long nowMillis) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(PROBE_SQL)) {
            rs.next();
            NodeObservation.Builder b = NodeObservation.newBuilder().setReachable(true)
                    .setInRecovery(rs.getBoolean(1)).setObservedAtMillis(nowMillis);
            setIfPresent(rs.getString(2), b::setCurrentLsn);
            setIfPresent(rs.getString(3), b::setReceiveLsn);
            setIfPresent(rs.getString(4), b::setReplayLsn);
            b.setLagSeconds(rs.getDouble(5));
            String tli = rs.getString(6);
            if (tli != null) {
                b.setTimeline(rs.getBoolean(1) ? Long.parseLong(tli) : Long.parseLong(tli, 16));
            }
            b.setServerVersion(rs.getString(7));
            setIfPresent(rs.getString(8), b::setUpstreamHost);
            b.setUpstreamPort(rs.getInt(9));
            setIfPresent(rs.getString(10), b::setWalReceiverStatus);
            b.setReadOnly(rs.getBoolean(11));
            b.setOpenTransactions(rs.getInt(12));
            long age = rs.getLong(13);
            b.setReceiverLastMessageAgeMillis(rs.wasNull() ? -1 : age);
            setIfPresent(rs.getString(14), b::setSynchronousStandbyNames);
            b.setPostmasterStartMicros(rs.getLong(15));
            return b.build();
        }
    }

    private Connection connect(Duration timeout) throws SQLException {
        int seconds = (int) Math.max(1, (timeout.toMillis() + 999) / 1000);
        Properties p = new Properties();
        p.setProperty("user", target.username());
        if (target.password().isPresent()) {
            p.setProperty("password", target.password().reveal());
        }
        p.setProperty("connectTimeout", Integer.toString(seconds));
        p.setProperty("socketTimeout", Integer.toString(seconds + 1));
        p.setProperty("ApplicationName", "pg-metako probe");
        p.setProperty("tcpKeepAlive", "true");
        p.setProperty("preferQueryMode", "simple");
        target.jdbcTls().forEach(p::setProperty);
        String url = "jdbc:postgresql://" + target.host() + ":" + target.port() + "/" + target.database();
        return DriverManager.getConnection(url, p);
    }

    private static void setIfPresent(String value, java.util.function.Consumer<String> setter) {
        if (value != null) {
            setter.accept(value);
        }
    }

    private NodeObservation failed(String why, long nowMillis) {
        return NodeObservation.newBuilder().setReachable(false).setError(why).setObservedAtMillis(nowMillis).build();
    }

    private static String describe(Throwable t) {
        return io.metako.server.logging.Failures.firstLine(t);
    }

    private void abortConnection() {
        Connection c = connection;
        connection = null;
        if (c != null) {
            try {
                c.abort(Runnable::run);
            } catch (SQLException | RuntimeException ignored) {
                // the connection is being thrown away either way
            }
        }
    }

    @Override
    public void close() {
        abortConnection();
        worker.shutdownNow();
    }
}

package io.metako.server.chaos;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterStatus;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Issue 20's scenario 6: a switchover while one instance's proxy carries thousands of sessions, each with a
 * backend on the primary, a few dozen of them busy, and one with a transaction open on the old primary.
 * That instance acknowledges the new epoch only once every session has let go of the old primary, so the
 * open transaction's COMMIT, sent after the switchover, must fail, and its row must exist nowhere.
 */
final class BusySwitchover {
    private static final Duration SETTLE = Duration.ofSeconds(90);
    private static final int BUSY = 40;

    record Result(int sessions, String via, long openMillis, long switchoverMillis, String commitError, List<String> rowOn,
                  long busyOk, long busyFailed, long busyOkAfter, long epochBefore, long epochAfter, String oldPrimary, String newPrimary) {
        String line() {
            return String.format("busy-switchover %d sessions on %s (opened in %.1f s), %d busy | switchover %s -> %s, epoch %d->%d,"
                            + " %.1f s | COMMIT of the open transaction: %s | its row on %s | busy statements ok %d, failed %d,"
                            + " ok in the second after the switchover %d",
                    sessions, via, openMillis / 1000.0, BUSY, oldPrimary, newPrimary, epochBefore, epochAfter,
                    switchoverMillis / 1000.0, commitError == null ? "SUCCEEDED" : "failed, " + commitError,
                    rowOn.isEmpty() ? "no node" : rowOn, busyOk, busyFailed, busyOkAfter);
        }
    }

    private BusySwitchover() {
    }

    static Result run(int sessions) throws Exception {
        ChaosCluster c = ChaosCluster.start(3, "async", SETTLE, false, sessions);
        try (c) {
            ClusterStatus before = c.awaitSettled(SETTLE);
            Workload.createTables(c, c.nodeIndex(before.getPrimary()));
            int via = (Math.max(0, c.leaderIndex()) + 1) % c.instanceCount(); // a follower: the leader waits for its ack
            List<Connection> conns = Collections.synchronizedList(new ArrayList<>());
            ExecutorService pool = Executors.newFixedThreadPool(8);
            long opening = System.nanoTime();
            try {
                List<Future<?>> opened = new ArrayList<>();
                for (int i = 0; i < sessions; i++) {
                    opened.add(pool.submit(() -> {
                        Connection conn = DriverManager.getConnection(c.routerUrl(via), properties(c));
                        conns.add(conn);
                        try (Statement st = conn.createStatement()) {
                            st.execute("/* metako:primary */ SELECT 1"); // the session now has a backend on the primary
                        }
                        return null;
                    }));
                }
                for (Future<?> f : opened) {
                    f.get(5, TimeUnit.MINUTES);
                }
                long openMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - opening);
                Connection tx = conns.get(0);
                tx.setAutoCommit(false);
                try (Statement st = tx.createStatement()) {
                    st.execute("INSERT INTO " + Workload.TABLE + " (id, via) VALUES (-1, 'the open transaction')");
                }
                AtomicBoolean stop = new AtomicBoolean();
                AtomicLong ok = new AtomicLong();
                AtomicLong failed = new AtomicLong();
                List<Thread> busy = new ArrayList<>();
                for (Connection conn : conns.subList(1, 1 + BUSY)) {
                    Thread t = new Thread(() -> keepBusy(c, via, conn, stop, ok, failed), "busy");
                    t.setDaemon(true);
                    t.start();
                    busy.add(t);
                }
                Thread.sleep(1_000);
                long switching = System.nanoTime();
                try (MetakoClient admin = c.client(via)) {
                    admin.switchover("");
                }
                ClusterStatus after = before;
                while (after.getEpoch() <= before.getEpoch()) {
                    after = c.awaitSettled(SETTLE);
                }
                long switchoverMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - switching);
                long okAtSwitch = ok.get();
                Thread.sleep(1_000);
                long okAfter = ok.get() - okAtSwitch;
                String commitError = null;
                try {
                    tx.commit();
                } catch (SQLException e) {
                    commitError = e.getSQLState() + " " + Workload.firstLine(e.getMessage());
                }
                stop.set(true);
                for (Thread t : busy) {
                    t.join(20_000);
                }
                c.startStoppedNodes();
                List<String> rowOn = new ArrayList<>();
                for (int n = 0; n < c.cluster.nodes().size(); n++) {
                    try (Connection conn = c.connectNode(n); Statement st = conn.createStatement();
                         ResultSet rs = st.executeQuery("SELECT count(*) FROM " + Workload.TABLE + " WHERE id = -1")) {
                        rs.next();
                        if (rs.getLong(1) > 0) {
                            rowOn.add(c.nodeName(n));
                        }
                    }
                }
                return new Result(sessions, c.instanceName(via), openMillis, switchoverMillis, commitError, rowOn, ok.get(),
                        failed.get(), okAfter, before.getEpoch(), after.getEpoch(), before.getPrimary(), after.getPrimary());
            } finally {
                List<Future<?>> closing = new ArrayList<>();
                for (Connection conn : List.copyOf(conns)) {
                    closing.add(pool.submit(() -> {
                        conn.close();
                        return null;
                    }));
                }
                for (Future<?> f : closing) {
                    try {
                        f.get(1, TimeUnit.MINUTES);
                    } catch (Exception ignored) {
                        // closing a session whose server side is gone may fail; the cluster is torn down anyway
                    }
                }
                pool.shutdownNow();
            }
        } finally {
            c.deleteFiles(); // after close: 2,000 sessions' cluster leaves ~250 MB in /tmp otherwise
        }
    }

    /**
     * Statements on the primary back to back: the proxy's event loop has work while the epoch changes. A session
     * whose statement was in flight on the old primary is ended (57P01: its outcome is unknown), and, as an
     * application's pool would, this client then opens a new one.
     */
    private static void keepBusy(ChaosCluster c, int via, Connection first, AtomicBoolean stop, AtomicLong ok, AtomicLong failed) {
        Connection conn = first;
        while (!stop.get()) {
            try {
                if (conn == null || conn.isClosed()) {
                    conn = DriverManager.getConnection(c.routerUrl(via), properties(c));
                }
                try (Statement st = conn.createStatement()) {
                    st.execute("/* metako:primary */ SELECT 1");
                    ok.incrementAndGet();
                }
            } catch (SQLException e) {
                failed.incrementAndGet();
                String state = e.getSQLState() == null ? "" : e.getSQLState();
                if (state.startsWith("08") || state.startsWith("57P")) {
                    closeQuietly(conn);
                    conn = null;
                }
                Workload.pause(50);
            }
        }
        if (conn != first) {
            closeQuietly(conn);
        }
    }

    private static void closeQuietly(Connection conn) {
        try {
            if (conn != null) {
                conn.close();
            }
        } catch (SQLException ignored) {
            // it is gone either way
        }
    }

    private static Properties properties(ChaosCluster c) {
        Properties p = new Properties();
        p.setProperty("user", c.user(ChaosCluster.Port.ROUTER));
        p.setProperty("password", c.password());
        p.setProperty("connectTimeout", "10");
        p.setProperty("loginTimeout", "30");
        p.setProperty("socketTimeout", "60");
        return p;
    }
}

package io.metako.server.chaos;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Clients writing through every instance's statement router and rw_port at once: each inserts
 * unique ids in autocommit and records every attempt as an {@link Op}, with the node that
 * acknowledged it. A broken connection is opened again; an id is never reused, so the checkers can
 * tell every attempt apart.
 */
final class Workload implements AutoCloseable {
    static final String TABLE = "chaos_ids";
    private static final String INSERT = "INSERT INTO " + TABLE + " (id, via) VALUES (?, ?) RETURNING inet_server_port()";

    private final ChaosCluster cluster;
    private final AtomicLong nextId = new AtomicLong(1);
    private final AtomicBoolean stop = new AtomicBoolean();
    private final ConcurrentLinkedQueue<Op> ops = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Login> logins = new ConcurrentLinkedQueue<>();
    private final List<Thread> threads = new ArrayList<>();
    private final long pauseMillis;

    Workload(ChaosCluster cluster, long pauseMillis) {
        this.cluster = cluster;
        this.pauseMillis = pauseMillis;
    }

    /** Creates the workload's tables (the register's too) on the primary and waits until every replica has them. */
    static void createTables(ChaosCluster c, int primary) throws SQLException, InterruptedException {
        try (Connection conn = c.connectNode(primary)) {
            conn.createStatement().execute("CREATE TABLE " + TABLE + " (id bigint PRIMARY KEY, via text NOT NULL)");
            RegisterClients.createTable(conn);
        }
        for (int n = 0; n < c.cluster.nodes().size(); n++) {
            long deadline = System.currentTimeMillis() + 20_000;
            while (true) {
                try (Connection conn = c.connectNode(n);
                     ResultSet rs = conn.createStatement().executeQuery("SELECT to_regclass('" + TABLE + "') IS NOT NULL")) {
                    rs.next();
                    if (rs.getBoolean(1)) {
                        break;
                    }
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new AssertionError(c.cluster.nodes().get(n).name() + " did not replicate the table in 20 s");
                }
                Thread.sleep(100);
            }
        }
    }

    /** Starts a writer on each of the given ports of every instance. */
    void start(List<ChaosCluster.Port> ports) {
        for (int i = 0; i < cluster.instanceCount(); i++) {
            for (ChaosCluster.Port port : ports) {
                int instance = i;
                Thread t = new Thread(() -> write(instance, port), "writer-" + i + "-" + port.label);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
        }
    }

    private void write(int instance, ChaosCluster.Port port) {
        Properties p = new Properties();
        p.setProperty("user", cluster.user(port));
        p.setProperty("password", cluster.password());
        p.setProperty("connectTimeout", "3");
        p.setProperty("loginTimeout", "5");
        p.setProperty("socketTimeout", "15"); // above proxy.failover_wait (10 s): a held write is not cut short
        String via = "metako-" + (instance + 1) + " " + port.label;
        while (!stop.get()) {
            long loginStart = System.nanoTime();
            long loginWall = System.currentTimeMillis();
            Connection opened;
            try {
                opened = DriverManager.getConnection(cluster.url(instance, port), p);
                logins.add(new Login(instance, port, loginWall, (System.nanoTime() - loginStart) / 1_000_000, true, ""));
            } catch (SQLException e) {
                logins.add(new Login(instance, port, loginWall, (System.nanoTime() - loginStart) / 1_000_000, false,
                        e.getSQLState() + " " + firstLine(e.getMessage())));
                pause(100); // could not log in: nothing was sent, nothing to record
                continue;
            }
            try (Connection conn = opened; PreparedStatement insert = conn.prepareStatement(INSERT)) {
                while (!stop.get()) {
                    long id = nextId.getAndIncrement();
                    long start = System.currentTimeMillis();
                    try {
                        insert.setLong(1, id);
                        insert.setString(2, via);
                        try (ResultSet rs = insert.executeQuery()) {
                            rs.next();
                            ops.add(new Op(id, instance, start, System.currentTimeMillis(), Op.Outcome.OK,
                                    cluster.nodeNameOfPort(rs.getInt(1)), ""));
                        }
                    } catch (SQLException e) {
                        ops.add(new Op(id, instance, start, System.currentTimeMillis(), Op.outcomeOf(e), "",
                                e.getSQLState() + " " + firstLine(e.getMessage())));
                        if (conn.isClosed() || e.getSQLState() == null || e.getSQLState().startsWith("08")
                                || e.getSQLState().startsWith("57P0")) {
                            break; // open a new connection
                        }
                    }
                    pause(pauseMillis);
                }
            } catch (SQLException e) {
                pause(100); // the prepare failed: nothing was sent
            }
        }
    }

    /** One login to a port: when, how long it took (loginTimeout is 5 s), and whether it succeeded (else why). */
    record Login(int instance, ChaosCluster.Port port, long startMillis, long millis, boolean ok, String error) {
    }

    List<Login> logins() {
        return List.copyOf(logins);
    }

    static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    /** Ops acknowledged since {@code sinceMillis} through instance {@code i}. */
    long okSince(int instance, long sinceMillis) {
        return ops.stream().filter(o -> o.instance() == instance && o.outcome() == Op.Outcome.OK && o.endMillis() >= sinceMillis)
                .count();
    }

    List<Op> history() {
        return List.copyOf(ops);
    }

    /** Stops the writers and waits for the statements still in flight (bounded by the socket timeout). */
    @Override
    public void close() throws InterruptedException {
        stop.set(true);
        for (Thread t : threads) {
            t.join(20_000);
        }
    }
}

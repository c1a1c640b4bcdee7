package io.metako.server.chaos;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Clients of a few compare-and-set registers (rows of one table), one on each instance's router
 * and one on each rw_port: each reads a register from the primary and then swaps in a value no one
 * else writes. The history, checked for linearizability key by key, catches what the insert
 * workload cannot: a read served by a deposed primary, or two swaps from one value.
 */
final class RegisterClients implements AutoCloseable {
    static final String TABLE = "chaos_register";
    static final int KEYS = 3;
    /** The router sends a read to a replica unless told otherwise; a register is read on the primary. */
    private static final String READ = "/* metako:primary */ SELECT v FROM " + TABLE + " WHERE k = ?";
    private static final String SWAP = "UPDATE " + TABLE + " SET v = ? WHERE k = ? AND v = ? RETURNING v";

    private final ChaosCluster cluster;
    private final AtomicLong nextValue = new AtomicLong(1);
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Map<Integer, ConcurrentLinkedQueue<Linearizability.Call>> calls = new TreeMap<>();
    private final AtomicLong refused = new AtomicLong();
    private final List<Thread> threads = new ArrayList<>();
    private final long seed;

    RegisterClients(ChaosCluster cluster, long seed) {
        this.cluster = cluster;
        this.seed = seed;
        for (int k = 1; k <= KEYS; k++) {
            calls.put(k, new ConcurrentLinkedQueue<>());
        }
    }

    static void createTable(Connection primary) throws SQLException {
        primary.createStatement().execute("CREATE TABLE " + TABLE + " (k int PRIMARY KEY, v bigint NOT NULL)");
        primary.createStatement().execute("INSERT INTO " + TABLE + " SELECT k, 0 FROM generate_series(1, " + KEYS + ") k");
    }

    void start() {
        for (int i = 0; i < cluster.instanceCount(); i++) {
            for (ChaosCluster.Port port : ChaosCluster.Port.values()) {
                int instance = i;
                Random random = new Random(seed * 31 + i * 2L + port.ordinal());
                Thread t = new Thread(() -> run(instance, port, random), "register-" + i + "-" + port.label);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
        }
    }

    private void run(int instance, ChaosCluster.Port port, Random random) {
        Properties p = new Properties();
        p.setProperty("user", cluster.user(port));
        p.setProperty("password", cluster.password());
        p.setProperty("connectTimeout", "3");
        p.setProperty("loginTimeout", "5");
        p.setProperty("socketTimeout", "15");
        String who = "metako-" + (instance + 1) + " " + port.label;
        while (!stop.get()) {
            try (Connection conn = DriverManager.getConnection(cluster.url(instance, port), p);
                 PreparedStatement read = conn.prepareStatement(READ);
                 PreparedStatement swap = conn.prepareStatement(SWAP)) {
                while (!stop.get()) {
                    int key = 1 + random.nextInt(KEYS);
                    long seen = read(read, key, who);
                    swap(swap, key, seen, nextValue.getAndIncrement(), who);
                    Workload.pause(10);
                }
            } catch (SQLException e) {
                Workload.pause(100); // a new connection; whatever was in flight is recorded
            }
        }
    }

    private long read(PreparedStatement read, int key, String who) throws SQLException {
        long start = System.nanoTime();
        try {
            read.setInt(1, key);
            try (ResultSet rs = read.executeQuery()) {
                rs.next();
                long v = rs.getLong(1);
                calls.get(key).add(new Linearizability.Call(Linearizability.Kind.READ, 0, v, start, System.nanoTime(),
                        who + " read " + v + " at " + java.time.LocalTime.now()));
                return v;
            }
        } catch (SQLException e) {
            refused.incrementAndGet(); // a read that failed, whatever the reason, says nothing about the register
            throw e;
        }
    }

    private void swap(PreparedStatement swap, int key, long expected, long value, String who) throws SQLException {
        long start = System.nanoTime();
        String what = who + " swap " + expected + "->" + value + " sent at " + java.time.LocalTime.now();
        try {
            swap.setLong(1, value);
            swap.setInt(2, key);
            swap.setLong(3, expected);
            try (ResultSet rs = swap.executeQuery()) {
                boolean swapped = rs.next();
                calls.get(key).add(new Linearizability.Call(swapped ? Linearizability.Kind.CAS_OK : Linearizability.Kind.CAS_MISSED,
                        expected, value, start, System.nanoTime(), what + (swapped ? "" : " (missed)")));
            }
        } catch (SQLException e) {
            if (Op.outcomeOf(e) == Op.Outcome.UNKNOWN) {
                calls.get(key).add(new Linearizability.Call(Linearizability.Kind.CAS_UNKNOWN, expected, value, start, 0,
                        what + " (unknown: " + e.getSQLState() + ")"));
            } else {
                refused.incrementAndGet();
            }
            throw e;
        }
    }

    /** What the register checks found: operations, and the first key whose history has no linearization. */
    record Verdict(int operations, int unknown, long refused, boolean linearizable, boolean decided, String explanation) {
        String line() {
            return String.format("register %d ops (%d unknown, %d refused) %s", operations, unknown, refused,
                    linearizable ? "linearizable" : decided ? "NOT LINEARIZABLE: " + explanation : "UNDECIDED: " + explanation);
        }
    }

    /** Checks every key's history; call after {@link #close()}. */
    Verdict check() {
        int operations = 0;
        int unknown = 0;
        boolean linearizable = true;
        boolean decided = true;
        List<String> problems = new ArrayList<>();
        for (var e : calls.entrySet()) {
            List<Linearizability.Call> history = List.copyOf(e.getValue());
            operations += history.size();
            unknown += (int) history.stream().filter(c -> !c.required()).count();
            Linearizability.Result r = Linearizability.check(history, 0);
            if (!r.linearizable()) {
                linearizable = false;
                decided &= r.decided();
                problems.add("key " + e.getKey() + ": " + r.explanation() + dump(e.getKey(), history));
            }
        }
        return new Verdict(operations, unknown, refused.get(), linearizable, decided, String.join("; ", problems));
    }

    /**
     * The key's whole history, by start time, into the round's folder (kept when the round is unsafe): what the
     * checker could not place is found by reading it. Returns where it went, for the report.
     */
    private String dump(int key, List<Linearizability.Call> history) {
        java.nio.file.Path file = cluster.dir().resolve("register-key-" + key + ".txt");
        long origin = history.stream().mapToLong(Linearizability.Call::startNanos).min().orElse(0);
        StringBuilder sb = new StringBuilder("# start_ms end_ms kind expected value label (ms from the first call)\n");
        history.stream().sorted(java.util.Comparator.comparingLong(Linearizability.Call::startNanos)).forEach(c ->
                sb.append(String.format("%10.3f %10s %-11s %6d %6d %s%n", (c.startNanos() - origin) / 1e6,
                        c.required() ? String.format("%.3f", (c.endNanos() - origin) / 1e6) : "-", c.kind(), c.expected(),
                        c.value(), c.label())));
        try {
            java.nio.file.Files.writeString(file, sb.toString());
            return " (history in " + file + ")";
        } catch (java.io.IOException e) {
            return " (history not written: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop.set(true);
        for (Thread t : threads) {
            t.join(20_000);
        }
    }
}

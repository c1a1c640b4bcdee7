package io.metako.server.it;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A client writing increasing ids, one every 5 ms, through whatever {@code connect} opens (a statement router,
 * HAProxy): an id counts as acknowledged once its INSERT was answered; after a failure it reconnects and goes on with
 * the next id (the failed one's outcome is unknown, so it is never used again).
 */
public final class RouterWriter implements Runnable {
    public interface Connector {
        Connection open() throws SQLException;
    }

    public final Set<Integer> acked = new ConcurrentSkipListSet<>();
    public final AtomicInteger failures = new AtomicInteger();
    public volatile int lastAcked;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final Connector connect;
    private final String table;
    private Thread thread;
    private int next = 1;

    public RouterWriter(Connector connect, String table) {
        this.connect = connect;
        this.table = table;
    }

    public RouterWriter start() {
        thread = new Thread(this, "router-writer-" + table);
        thread.start();
        return this;
    }

    /** Stops writing and waits for the thread, so that nothing is acknowledged after this returns. */
    public boolean stop() throws InterruptedException {
        stop.set(true);
        thread.join(15_000);
        return !thread.isAlive();
    }

    @Override
    public void run() {
        while (!stop.get()) {
            try (Connection c = connect.open(); Statement st = c.createStatement()) {
                st.setQueryTimeout(10);
                while (!stop.get()) {
                    int id = next++;
                    st.execute("INSERT INTO " + table + " (id) VALUES (" + id + ")");
                    acked.add(id);
                    lastAcked = id;
                    Thread.sleep(5);
                }
            } catch (SQLException e) {
                failures.incrementAndGet();
                pause(100);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            stop.set(true);
        }
    }
}

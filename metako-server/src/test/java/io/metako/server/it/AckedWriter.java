package io.metako.server.it;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A client that writes increasing ids in autocommit to whatever node the quorum calls primary,
 * recording an id as acknowledged only after the server answered its COMMIT. A failed statement
 * (the primary died, was fenced) is retried as a new id on the next primary, so the set of
 * acknowledged ids is exactly what must survive.
 */
final class AckedWriter implements Runnable {
    final Set<Integer> acked = new ConcurrentSkipListSet<>();
    final AtomicInteger failed = new AtomicInteger();
    final AtomicBoolean stop = new AtomicBoolean();
    private final Quorum q;
    private final String table;
    private int next = 1;

    AckedWriter(Quorum q, String table) {
        this.q = q;
        this.table = table;
    }

    @Override
    public void run() {
        while (!stop.get()) {
            String primary;
            try {
                primary = q.status(0).getPrimary();
            } catch (RuntimeException e) {
                pause();
                continue;
            }
            if (primary.isEmpty()) {
                pause();
                continue;
            }
            try (Connection c = q.connect(Integer.parseInt(primary.substring(3)) - 1); Statement st = c.createStatement()) {
                st.setQueryTimeout(10);
                while (!stop.get()) {
                    int id = next++;
                    st.execute("INSERT INTO " + table + " (id) VALUES (" + id + ")");
                    acked.add(id);
                }
            } catch (SQLException e) {
                failed.incrementAndGet();
                pause();
            }
        }
    }

    Thread start() {
        Thread t = new Thread(this, "acked-writer");
        t.start();
        return t;
    }

    private void pause() {
        try {
            Thread.sleep(20);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stop.set(true);
        }
    }
}

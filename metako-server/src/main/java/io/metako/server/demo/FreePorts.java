package io.metako.server.demo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/** Free loopback TCP ports, each distinct within one call. */
public final class FreePorts {
    private static final int LOW = 20_000;
    private static final int HIGH = 32_000;
    private static final int ATTEMPTS = 2_000;

    private FreePorts() {
    }

    /**
     * Ports the kernel picks (its ephemeral range): it hands them out in turn, so clusters started one after another
     * do not reuse each other's ports while the earlier one's processes may still be going (every test cluster has
     * the same Raft group id and peer ids: a port reused at once lets a dying peer talk to a new one).
     */
    public static List<Integer> take(int count) {
        List<ServerSocket> held = new ArrayList<>();
        try {
            List<Integer> ports = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                held.add(s);
                ports.add(s.getLocalPort());
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("no free loopback port", e);
        } finally {
            close(held);
        }
    }

    /**
     * Ports for a cluster that keeps them across restarts (the demo: its Raft addresses are in its log), drawn at
     * random from 20000-31999, below the kernel's ephemeral range (32768 and up by default), where any outgoing
     * connection may hold a port and keep the cluster from starting again.
     */
    public static List<Integer> takeLasting(int count) {
        List<ServerSocket> held = new ArrayList<>();
        try {
            List<Integer> ports = new ArrayList<>();
            for (int attempt = 0; ports.size() < count; attempt++) {
                if (attempt >= ATTEMPTS) {
                    throw new UncheckedIOException(new IOException("no " + count + " free loopback ports in " + LOW + "-"
                            + (HIGH - 1) + " after " + ATTEMPTS + " tries"));
                }
                int port = ThreadLocalRandom.current().nextInt(LOW, HIGH);
                try {
                    ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress());
                    held.add(s); // held until all are found: distinct within the call
                    ports.add(port);
                } catch (IOException taken) {
                    // in use: another
                }
            }
            return ports;
        } finally {
            close(held);
        }
    }

    private static void close(List<ServerSocket> held) {
        for (ServerSocket s : held) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing a listening socket we own
            }
        }
    }
}

package io.metako.server.demo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Free loopback TCP ports, each distinct within one call, drawn from 20000-31999: below the kernel's ephemeral range
 * (32768 and up by default), where any outgoing connection may take a port. A demo keeps its ports for every later
 * start (its Raft addresses are in its log), so a port an outgoing connection holds then would keep it from starting.
 */
public final class FreePorts {
    private static final int LOW = 20_000;
    private static final int HIGH = 32_000;
    private static final int ATTEMPTS = 2_000;

    private FreePorts() {
    }

    public static List<Integer> take(int count) {
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
            for (ServerSocket s : held) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing a listening socket we own
                }
            }
        }
    }
}

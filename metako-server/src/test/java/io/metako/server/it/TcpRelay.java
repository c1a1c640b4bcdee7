package io.metako.server.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A controllable TCP relay for fault injection between one instance and one node. While
 * {@link #blackhole()} is on it accepts connections and swallows every byte in both directions
 * (a silent network partition: no reset, no answer), so only timeouts can notice.
 */
final class TcpRelay implements AutoCloseable {
    private final ServerSocket server;
    private final String targetHost;
    private final int targetPort;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean blackhole;
    private volatile boolean closed;

    TcpRelay(String targetHost, int targetPort) throws IOException {
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        Thread acceptor = new Thread(this::acceptLoop, "relay-accept-" + port());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    int port() {
        return server.getLocalPort();
    }

    /** From now on nothing passes, on old and new connections alike. */
    void blackhole() {
        blackhole = true;
    }

    /** Traffic flows again; connections that were swallowed are reset so clients reconnect. */
    void heal() {
        blackhole = false;
        for (Socket s : sockets) {
            closeQuietly(s);
        }
        sockets.clear();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                sockets.add(client);
                if (blackhole) {
                    pump(client.getInputStream(), null, client, null);
                    continue;
                }
                Socket upstream = new Socket(targetHost, targetPort);
                sockets.add(upstream);
                pump(client.getInputStream(), upstream.getOutputStream(), client, upstream);
                pump(upstream.getInputStream(), client.getOutputStream(), upstream, client);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private void pump(InputStream in, OutputStream out, Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16384];
            try {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (!blackhole && out != null) {
                        out.write(buf, 0, n);
                        out.flush();
                    }
                }
            } catch (IOException ignored) {
                // either side went away
            } finally {
                closeQuietly(from);
                if (to != null) {
                    closeQuietly(to);
                }
            }
        }, "relay-pump");
        t.setDaemon(true);
        t.start();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        heal();
    }
}

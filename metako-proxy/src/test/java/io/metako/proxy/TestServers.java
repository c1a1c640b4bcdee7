package io.metako.proxy;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.function.Consumer;

/** Tiny blocking TCP servers for the component tests: one daemon thread per accepted connection. */
public final class TestServers {
    private TestServers() {
    }

    /** A loopback server on a free port handing each connection to {@code serve}; close the socket to stop it. */
    public static ServerSocket start(Consumer<Socket> serve) {
        ServerSocket server;
        try {
            server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        Thread t = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread c = new Thread(() -> serve.accept(s));
                    c.setDaemon(true);
                    c.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        t.setDaemon(true);
        t.start();
        return server;
    }
}

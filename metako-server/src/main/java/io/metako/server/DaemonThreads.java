package io.metako.server;

import java.util.concurrent.ThreadFactory;

/** Named daemon threads for the instance's executors: a stuck one never keeps the JVM from exiting. */
public final class DaemonThreads {
    private DaemonThreads() {
    }

    public static ThreadFactory named(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}

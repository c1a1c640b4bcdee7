package io.metako.server.agent;

import io.metako.server.config.ManagedNode;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.NodeConfig;
import io.metako.server.pg.LocalPostgres;
import io.metako.server.pg.OsCommand;
import io.metako.server.pg.PgBinaries;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;

/**
 * {@code metako --start-node}: the node of {@code instance.manages} started if it is stopped, before the instance
 * starts (what {@code metako-managed@.service} runs, as the container's entrypoint does), so that a host's reboot
 * brings its node back. Never a node whose rejoin was cut short: the instance resumes that. A node that was a
 * primary starts fenced (read-only, {@link LocalPostgres#fenceBeforeStart}): the leader lifts that if the log still
 * names it the primary; if the cluster failed over meanwhile it stays fenced until its instance rejoins it.
 */
public final class NodeStarter {
    private NodeStarter() {
    }

    /**
     * Starts {@code pg} if it is stopped, as described above (also what a resumed demo does with its nodes);
     * returns what became of it, one line.
     */
    public static String startIfStopped(LocalPostgres pg) throws IOException {
        String name = pg.name();
        if (Files.exists(NodeAgent.rejoinMarker(pg.nodeDir(), pg.dataDir()))) {
            return name + ": not started, a rewind or clone of it did not finish; the instance resumes it";
        }
        switch (pg.status()) {
            case RUNNING:
                return name + ": running already";
            case NO_DATA:
                return name + ": not started, no data directory at " + pg.dataDir() + " (metakoctl reinit " + name
                        + " clones it)";
            default:
                boolean replica = Files.exists(pg.dataDir().resolve("standby.signal"));
                if (!replica) {
                    pg.fenceBeforeStart(); // read-only until the leader sees it is still the primary
                }
                pg.start();
                return name + ": started (" + (replica ? "a replica" : "a primary when it stopped, read-only until the Raft"
                        + " leader lifts the fence: at once if it is still the primary, never if the cluster failed over"
                        + " meanwhile") + "), log " + pg.logFile();
        }
    }

    /** Returns the exit code: 0 when the node runs or is left stopped on purpose, 1 when its start failed. */
    public static int startIfStopped(MetakoConfig config, PrintWriter out, PrintWriter err) {
        ManagedNode managed = config.instance().manages().orElse(null);
        if (managed == null) {
            err.println("metako --start-node: the file has no instance.manages (the node this instance starts and rejoins)");
            return 78; // EX_CONFIG
        }
        NodeConfig node = config.node(managed.node()).orElseThrow();
        PgBinaries bin = managed.binDir().map(PgBinaries::at).orElseGet(() -> PgBinaries.locate(System.getenv()));
        LocalPostgres pg = LocalPostgres.atDataDir(bin, new OsCommand(managed.osUser()), node.name(), managed.dataDir(),
                node.host(), node.port());
        try {
            out.println(startIfStopped(pg));
            return 0;
        } catch (IOException | RuntimeException e) {
            err.println("metako --start-node: " + node.name() + " did not start: " + e.getMessage()
                    + "; its log: " + pg.logFile());
            return 1;
        } finally {
            out.flush();
            err.flush();
        }
    }
}

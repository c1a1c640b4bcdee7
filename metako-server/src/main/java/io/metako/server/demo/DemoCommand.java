package io.metako.server.demo;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code metako demo}: a local 3-node PostgreSQL cluster under a 3-instance metako quorum. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Start a local PostgreSQL cluster (a primary and 2 streaming replicas) and 3 metako "
                + "instances as separate processes on free loopback ports, then print how to connect. "
                + "Ctrl-C (SIGINT/SIGTERM) stops everything it started; the files stay in the folder."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--dir", paramLabel = "DIR",
            description = "Folder for data, configs and logs (default: a new /tmp/pg-metako-demo-* folder). "
                    + "A new or empty folder gets a new cluster; the folder of a demo stopped earlier starts that "
                    + "cluster again as it was left (data, roles, Raft state, ports, secrets). When running as root, "
                    + "the postgres OS user must be able to enter it.")
    Path dir;

    @Option(names = "--health-interval", paramLabel = "DURATION", defaultValue = "1s",
            description = "health_check.interval (and timeout) of the demo's instances (default: ${DEFAULT-VALUE}).")
    String healthInterval;

    @Option(names = "--no-tls",
            description = "Run without TLS. By default the demo makes a cluster CA and instance certificates with "
                    + "deploy/certs.sh (openssl) in DIR/pki, and runs the Raft links under mutual TLS, the admin API "
                    + "over TLS and the statement router offering TLS, as a production cluster would.")
    boolean noTls;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Held while a demo runs in the folder. */
    private static final String LOCK = ".demo.lock";

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Path target = dir != null ? dir : Files.createTempDirectory(Path.of("/tmp"), "pg-metako-demo-");
        // one demo per folder, decided under its lock: a second start would find the nodes running, fail on the
        // instances' ports, and stop the first one's nodes on its way out
        Files.createDirectories(target);
        java.nio.channels.FileChannel lockFile = java.nio.channels.FileChannel.open(target.resolve(LOCK),
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
        if (lockFile.tryLock() == null) {
            lockFile.close();
            err.println("metako demo: a demo is running in " + target + " already; stop it first (Ctrl-C, or"
                    + " deploy/deploy.sh stop)");
            return 1;
        }
        boolean resume;
        try (var entries = Files.list(target)) {
            resume = entries.anyMatch(e -> !e.getFileName().toString().equals(LOCK));
        }
        if (resume && !LocalCluster.isCluster(target)) {
            lockFile.close();
            Files.deleteIfExists(target.resolve(LOCK)); // not a demo's folder: leave nothing of ours in it
            err.println("metako demo: " + target + " is not empty and holds no demo; pass a new folder with --dir");
            return CommandLine.ExitCode.USAGE;
        }
        if (resume && !Files.exists(target.resolve(DemoRun.ENDPOINTS))) {
            lockFile.close();
            err.println("metako demo: the first start of the demo in " + target + " did not finish (its logs are"
                    + " there); delete the folder and start again (deploy/deploy.sh cleanup)");
            return 1;
        }
        if (resume && spec.commandLine().getParseResult().hasMatchedOption("--health-interval")) {
            err.println("metako demo: --health-interval is ignored when resuming: the settings are the cluster's"
                    + " (bin/metakoctl config set health_check.interval=...)");
        }
        try (lockFile) {
            DemoRun run = new DemoRun(target, out, healthInterval, !noTls, resume);
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                run.stop();
                stopped.countDown();
            }, "demo-shutdown"));
            try {
                run.start();
            } catch (Exception e) {
                err.println("metako demo: " + e.getMessage() + (resume ? "" : "; what the first start made stays in " + target
                        + ": delete it before starting again (deploy/deploy.sh cleanup)"));
                err.flush();
                run.stop();
                return 1;
            }
            stopped.await();
            return 0;
        }
    }
}

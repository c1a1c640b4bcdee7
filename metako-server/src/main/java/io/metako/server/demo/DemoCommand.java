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
                    + "It must be new or empty; when running as root, the postgres OS user must be able to enter it.")
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

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Path target = dir != null ? dir : Files.createTempDirectory(Path.of("/tmp"), "pg-metako-demo-");
        if (Files.isDirectory(target)) {
            try (var entries = Files.list(target)) {
                if (entries.findAny().isPresent()) {
                    err.println("metako demo: " + target + " is not empty; pass a new folder with --dir");
                    return CommandLine.ExitCode.USAGE;
                }
            }
        }
        DemoRun run = new DemoRun(target, out, healthInterval, !noTls);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            run.stop();
            stopped.countDown();
        }, "demo-shutdown"));
        try {
            run.start();
        } catch (Exception e) {
            err.println("metako demo: " + e.getMessage());
            err.flush();
            run.stop();
            return 1;
        }
        stopped.await();
        return 0;
    }
}

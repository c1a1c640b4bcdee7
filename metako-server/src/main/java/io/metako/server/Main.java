package io.metako.server;

import io.metako.server.config.ConfigException;
import io.metako.server.config.ConfigLoader;
import io.metako.server.config.MetakoConfig;
import io.metako.server.demo.DemoCommand;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code metako}: run one instance from its configuration file, or the local demo. */
@Command(name = "metako", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"pg-metako: high availability for PostgreSQL streaming replication.",
                "Runs one metako instance (Raft peer, health prober, admin API) from a YAML configuration."},
        subcommands = {DemoCommand.class, CommandLine.HelpCommand.class},
        footer = {"", "Examples:", "  metako --config configs/metako-1.yaml", "  metako demo --dir /tmp/metako-demo"})
public final class Main implements Callable<Integer> {
    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "The instance's YAML configuration.")
    Path config;

    @Option(names = "--check", description = "Validate the configuration, print a summary and exit.")
    boolean checkOnly;

    @Option(names = "--join", description = {"Join a running cluster: on first start (empty storage) wait to be added"
            + " to its Raft group (metakoctl members add ID RAFT_ADDR API_ADDR, asked of any member) and receive its"
            + " state, instead of forming a group with the peers of the file. The file's peers are the members to"
            + " reach. Ignored once the instance has a log."})
    boolean join;

    @Option(names = "--start-node", description = {"Start the PostgreSQL node of instance.manages if it is stopped"
            + " (pg_ctl start, as its OS user), then exit; metako-managed@.service runs it before the instance, so a"
            + " host's reboot brings its node back. A node whose rewind or clone did not finish stays stopped (the"
            + " instance resumes it); an old primary the cluster failed over from meanwhile is fenced by the instance."})
    boolean startNode;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (config == null) {
            spec.commandLine().getErr().println("metako: --config FILE is required (or use 'metako demo'); see --help");
            return CommandLine.ExitCode.USAGE;
        }
        MetakoConfig cfg;
        try {
            cfg = ConfigLoader.withSystemEnv().load(config);
        } catch (ConfigException e) {
            spec.commandLine().getErr().println(e.getMessage());
            return 78; // EX_CONFIG
        }
        if (checkOnly) {
            spec.commandLine().getOut().printf("%s: instance %s of cluster %s, %d peers, %d nodes: OK%n", config,
                    cfg.instance().id(), cfg.clusterName(), cfg.peers().size(), cfg.nodes().size());
            return 0;
        }
        if (startNode) {
            return io.metako.server.agent.NodeStarter.startIfStopped(cfg, spec.commandLine().getOut(), spec.commandLine().getErr());
        }
        org.slf4j.MDC.put("instance", cfg.instance().id());
        MetakoInstance instance;
        try {
            instance = new MetakoInstance(cfg, config, Clock.systemUTC(), join);
        } catch (IOException | RuntimeException e) {
            spec.commandLine().getErr().println("metako: cannot create instance " + cfg.instance().id() + ": " + e);
            return 1;
        }
        io.metako.server.logging.JsonLineLayout.context(instance::logContext);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            instance.close();
            stopped.countDown();
        }, "shutdown"));
        onHangup(instance); // before start: the JVM's default for SIGHUP would end the process
        try {
            instance.start();
        } catch (IOException | RuntimeException e) {
            spec.commandLine().getErr().println("metako: cannot start instance " + cfg.instance().id() + " (" + e
                    + "); is another process using " + cfg.instance().raftAddress() + " or " + cfg.instance().grpcAddress() + "?");
            return 1;
        }
        stopped.await();
        return 0;
    }

    /**
     * SIGHUP (systemctl reload, kill -HUP) reads the file again, as {@code metakoctl reload} does; the outcome is
     * logged. Not every JVM lets a program handle signals: then only metakoctl reload does it, and the log says so.
     */
    private static void onHangup(MetakoInstance instance) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), sig -> {
                Thread t = new Thread(instance::reload, "reload");
                t.setDaemon(true);
                t.start(); // off the signal dispatcher: a reload may wait on the proxy's event loops
            });
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            org.slf4j.LoggerFactory.getLogger(Main.class).warn("SIGHUP cannot be handled here ({}): reload with"
                    + " metakoctl reload", e.toString());
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }

    /** The version from the jar manifest, or "development" when run from classes. */
    public static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"pg-metako " + (v == null ? "development" : v)};
        }
    }
}

package io.metako.client.cli;

import io.metako.client.MetakoClient;
import io.metako.client.MetakoClientException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** {@code metakoctl}: operate a pg-metako cluster through any of its instances' admin API. */
@Command(name = "metakoctl", mixinStandardHelpOptions = true, versionProvider = Metakoctl.Version.class,
        description = "Operate a pg-metako cluster through the admin API of any of its instances.",
        subcommands = {StatusCommand.class, ListCommand.class, WatchCommand.class, MembersCommand.class,
                HistoryCommand.class, SwitchoverCommand.class, FailoverCommand.class, AbortCommand.class, RejoinCommand.class, ReinitCommand.class,
                PauseCommand.class, ResumeCommand.class, StatsCommand.class, ConfigCommand.class, ReloadCommand.class, NodeCommand.class,
                CommandLine.HelpCommand.class},
        footer = {"", "Exit codes: 0 ok, 2 bad usage, 3 no instance answered, 4 token refused, 5 call refused.",
                "Environment: METAKO_ENDPOINTS (default for --endpoints), METAKO_TOKEN (default for --token),",
                "METAKO_CACERT, METAKO_CERT, METAKO_KEY (defaults for --cacert, --cert, --key)."})
public final class Metakoctl {
    static final int NO_ANSWER = 3;
    static final int UNAUTHENTICATED = 4;
    static final int REFUSED = 5;

    /** Options every subcommand takes. */
    static final class Connection {
        @Option(names = "--endpoints", scope = ScopeType.INHERIT, paramLabel = "HOST:PORT[,...]",
                description = "Admin API addresses of one or more instances, tried in order "
                        + "(default: $METAKO_ENDPOINTS, else 127.0.0.1:7101).")
        String endpoints;

        @Option(names = "--token", scope = ScopeType.INHERIT, paramLabel = "TOKEN",
                description = "Bearer token (default: $METAKO_TOKEN). Prefer the variable: arguments show in ps.")
        String token;

        @Option(names = "--timeout", scope = ScopeType.INHERIT, paramLabel = "MILLIS", defaultValue = "3000",
                description = "Deadline of each call per instance, in milliseconds (default: ${DEFAULT-VALUE}).")
        long timeoutMillis;

        @Option(names = "--cacert", scope = ScopeType.INHERIT, paramLabel = "FILE",
                description = "PEM CA certificate the instances' admin API certificates are signed by: talk TLS "
                        + "(default: $METAKO_CACERT; without either, plaintext).")
        java.nio.file.Path cacert;

        @Option(names = "--cert", scope = ScopeType.INHERIT, paramLabel = "FILE",
                description = "PEM client certificate, for instances that require one (default: $METAKO_CERT).")
        java.nio.file.Path cert;

        @Option(names = "--key", scope = ScopeType.INHERIT, paramLabel = "FILE",
                description = "PKCS#8 PEM key of --cert (default: $METAKO_KEY).")
        java.nio.file.Path key;

        @Option(names = {"-o", "--output"}, scope = ScopeType.INHERIT, defaultValue = "table", paramLabel = "table|json",
                description = "Output format: table or json (default: ${DEFAULT-VALUE}).")
        Output output;
    }

    enum Output { table, json }

    @CommandLine.Mixin
    Connection connection = new Connection();

    private final Map<String, String> env;

    Metakoctl(Map<String, String> env) {
        this.env = env;
    }

    /** An environment variable as this command line sees it (tests pass their own). */
    String env(String name) {
        return env.get(name);
    }

    MetakoClient client(Connection c) {
        return client(c, endpoints(c));
    }

    /** The endpoints asked: --endpoints, else METAKO_ENDPOINTS, else the local default. */
    List<String> endpoints(Connection c) {
        return MetakoClient.parseEndpoints(c.endpoints != null ? c.endpoints
                : env.getOrDefault("METAKO_ENDPOINTS", "127.0.0.1:7101"));
    }

    /** A client of {@code endpoints} only, with the connection's token and TLS. */
    MetakoClient client(Connection c, List<String> endpoints) {
        String token = c.token != null ? c.token : env.get("METAKO_TOKEN");
        java.nio.file.Path ca = c.cacert != null ? c.cacert : path(env.get("METAKO_CACERT"));
        java.nio.file.Path cert = c.cert != null ? c.cert : path(env.get("METAKO_CERT"));
        java.nio.file.Path key = c.key != null ? c.key : path(env.get("METAKO_KEY"));
        if (ca == null && (cert != null || key != null)) {
            throw new IllegalArgumentException("--cert/--key need --cacert (or METAKO_CACERT): a client certificate is only sent over TLS");
        }
        return new MetakoClient(endpoints, token, Duration.ofMillis(c.timeoutMillis),
                ca == null ? null : new MetakoClient.Tls(ca, cert, key));
    }

    private static java.nio.file.Path path(String s) {
        return s == null || s.isBlank() ? null : java.nio.file.Path.of(s);
    }

    /** Runs a client call, mapping failures to a message on stderr and an exit code. */
    static int run(CommandLine.Model.CommandSpec spec, ClientCall call) {
        PrintWriter err = spec.commandLine().getErr();
        try {
            return call.run();
        } catch (IllegalArgumentException e) {
            err.println("metakoctl: " + e.getMessage());
            return CommandLine.ExitCode.USAGE;
        } catch (MetakoClientException e) {
            err.println("metakoctl: " + e.getMessage());
            return switch (e.reason()) {
                case NO_ENDPOINT_ANSWERED -> NO_ANSWER;
                case UNAUTHENTICATED -> UNAUTHENTICATED;
                case REFUSED -> REFUSED;
            };
        }
    }

    interface ClientCall {
        int run();
    }

    /** Fetches one answer and prints it as JSON or as the table, per {@code -o}. */
    <T> int show(CommandLine.Model.CommandSpec spec, java.util.function.Function<MetakoClient, T> fetch,
                 java.util.function.Function<T, String> json, java.util.function.Function<T, String> table) {
        return run(spec, () -> {
            try (MetakoClient client = client(connection)) {
                T answer = fetch.apply(client);
                PrintWriter out = spec.commandLine().getOut();
                if (connection.output == Output.json) {
                    out.println(json.apply(answer));
                } else {
                    out.print(table.apply(answer));
                }
                out.flush();
                return 0;
            }
        });
    }

    public static CommandLine commandLine(Map<String, String> env) {
        Metakoctl root = new Metakoctl(env);
        CommandLine.IFactory factory = new CommandLine.IFactory() {
            @Override
            public <K> K create(Class<K> cls) throws Exception {
                if (cls == Metakoctl.class) {
                    return cls.cast(root);
                }
                return CommandLine.defaultFactory().create(cls);
            }
        };
        return new CommandLine(root, factory).setCaseInsensitiveEnumValuesAllowed(true);
    }

    public static void main(String[] args) {
        System.exit(commandLine(System.getenv()).execute(args));
    }

    /** The version from the jar manifest, or "development" when run from classes. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Metakoctl.class.getPackage().getImplementationVersion();
            return new String[] {"metakoctl " + (v == null ? "development" : v)};
        }
    }
}

package io.metako.server.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * Reads a YAML configuration into a {@link MetakoConfig}. Every problem is collected with its
 * YAML path before anything is reported, so an operator fixes a file in one pass.
 */
public final class ConfigLoader {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}");

    private final Function<String, String> env;

    public ConfigLoader(Function<String, String> env) {
        this.env = env;
    }

    public static ConfigLoader withSystemEnv() {
        return new ConfigLoader(System::getenv);
    }

    public MetakoConfig load(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(file.toString(), List.of("file not found: pass an existing file with --config"));
        } catch (IOException e) {
            throw new ConfigException(file.toString(), List.of("cannot read the file: " + e.getMessage()));
        }
        Path base = file.toAbsolutePath().getParent();
        return parse(text, file.toString(), base == null ? Path.of(".") : base);
    }

    /** Parses {@code text}; relative file paths in it are resolved against {@code baseDir}. */
    public MetakoConfig parse(String text, String source, Path baseDir) {
        Map<?, ?> map = mapping(text, source);
        ConfigProblems problems = new ConfigProblems();
        YamlSection root = new YamlSection("", map, problems, env, baseDir);
        MetakoConfig config = read(root, problems);
        root.finish();
        problems.throwIfAny(source);
        return config;
    }

    /** {@code text} as a YAML mapping, read as the configuration file is (no duplicate keys, few aliases). */
    static Map<?, ?> mapping(String text, String source) {
        Object doc = yamlValue(text, source);
        if (!(doc instanceof Map<?, ?> map)) {
            throw new ConfigException(source, List.of("the file must be a YAML mapping (key: value lines), got "
                    + (doc == null ? "an empty document" : "a " + doc.getClass().getSimpleName())));
        }
        return map;
    }

    /** One YAML document as SnakeYAML's safe constructor reads it: a map, list, number, boolean or string. */
    static Object yamlValue(String text, String source) {
        try {
            LoaderOptions options = new LoaderOptions();
            options.setAllowDuplicateKeys(false);
            options.setMaxAliasesForCollections(20);
            return new Yaml(new SafeConstructor(options)).load(text);
        } catch (MarkedYAMLException e) {
            throw new ConfigException(source, List.of("not valid YAML at line " + (e.getProblemMark().getLine() + 1)
                    + ", column " + (e.getProblemMark().getColumn() + 1) + ": " + e.getProblem()));
        } catch (YAMLException e) {
            throw new ConfigException(source, List.of("not valid YAML: " + e.getMessage()));
        }
    }

    /**
     * The cluster-wide sections alone ({@code health_check}, {@code load_balancer}, {@code failover},
     * {@code replication}, {@code rejoin}), by the file's rules: what {@code metakoctl config set / edit} change.
     * A key of the instance's own file, or an unknown one, is a problem here; so is a section that is not a mapping.
     * {@code nodeCount} bounds {@code replication.sync_standbys}.
     */
    public ClusterWide readClusterWide(Map<?, ?> doc, int nodeCount, ConfigProblems problems) {
        Map<Object, Object> rest = new java.util.LinkedHashMap<>(doc);
        for (Object k : doc.keySet()) {
            String key = String.valueOf(k);
            if (!ClusterWide.SECTIONS.contains(key)) {
                rest.remove(k);
                problems.add(key, key.equals("nodes") ? "is not changed here: metakoctl node add / node remove change the"
                        + " topology (each node's credentials live in each instance's file)"
                        : INSTANCE_LOCAL.contains(key)
                        ? "is instance-local: it lives in each instance's file; change it there and run metakoctl reload"
                        + " against that instance (docs/configuration.md says which keys are which)"
                        : "is not a cluster-wide setting" + java.util.Optional.ofNullable(Suggest.nearest(key,
                        ClusterWide.SECTIONS)).map(n -> "; did you mean '" + n + "'?").orElse("")
                        + " (the cluster-wide sections: " + String.join(", ", ClusterWide.SECTIONS) + ")");
            }
        }
        YamlSection root = new YamlSection("", rest, problems, env, Path.of("."));
        YamlSection replicationSection = root.sectionOrEmpty("replication");
        if (replicationSection.has("passfile")) {
            replicationSection.problem("passfile", "is instance-local: it lives in each instance's file; change it"
                    + " there and run metakoctl reload against that instance");
        }
        ClusterWide c = new ClusterWide(readHealth(root.sectionOrEmpty("health_check")),
                readLoadBalancer(root.sectionOrEmpty("load_balancer")),
                readFailover(root.sectionOrEmpty("failover")),
                readReplication(replicationSection, nodeCount),
                readRejoin(root.sectionOrEmpty("rejoin")));
        root.finish();
        return c;
    }

    /** Top-level keys of an instance's file that are not replicated. */
    private static final List<String> INSTANCE_LOCAL = List.of("cluster_name", "instance", "peers", "proxy",
            "security", "http", "logging");

    private MetakoConfig read(YamlSection root, ConfigProblems problems) {
        String clusterName = root.string("cluster_name", "metako");
        if (!NAME.matcher(clusterName).matches()) {
            root.problem("cluster_name", "must be letters, digits, '.', '_' or '-' (at most 63), got '" + clusterName + "'");
        }
        InstanceConfig instance = readInstance(root.sectionOrEmpty("instance"));
        List<PeerConfig> peers = readPeers(root, instance);
        ProxyConfig proxy = readProxy(root.sectionOrEmpty("proxy"));
        List<NodeConfig> nodes = readNodes(root);
        HealthCheckConfig health = readHealth(root.sectionOrEmpty("health_check"));
        LoadBalancerConfig lb = readLoadBalancer(root.sectionOrEmpty("load_balancer"));
        FailoverConfig failover = readFailover(root.sectionOrEmpty("failover"));
        ReplicationConfig replication = readReplication(root.sectionOrEmpty("replication"), nodes.size());
        SecurityConfig security = readSecurity(root.sectionOrEmpty("security"));
        RejoinConfig rejoin = readRejoin(root.sectionOrEmpty("rejoin"));
        HttpConfig http = readHttp(root.sectionOrEmpty("http"));
        LoggingConfig logging = readLogging(root.sectionOrEmpty("logging"));
        if (http.tokenAuth() && !instance.readToken().isPresent() && !security.httpTlsEnabled()) {
            problems.add("http.auth", "token needs instance.read_token: the admin token (auth_token) is not accepted over"
                    + " plain HTTP, where anyone on the path would read it (or set security.http_tls_enabled)");
        }
        if (security.httpTlsEnabled() && instance.httpAddress() == null) {
            problems.add("security.http_tls_enabled", "needs instance.http_address: there is no HTTP endpoint to secure");
        }
        if (proxy.requireTls() && !security.tlsEnabled()) {
            problems.add("proxy.require_tls", "needs security.tls_enabled (with cert_file and key_file): without TLS"
                    + " the statement router could accept no client at all");
        }
        for (String name : instance.nodeAddresses().keySet()) {
            if (nodes.stream().noneMatch(n -> name.equals(n.name()))) {
                problems.add("instance.node_addresses." + name, "is not a node in nodes");
            }
        }
        instance.manages().ifPresent(m -> {
            if (m.node() != null && nodes.stream().noneMatch(n -> m.node().equals(n.name()))) {
                problems.add("instance.manages.node", "'" + m.node() + "' is not a node in nodes");
            }
        });
        return new MetakoConfig(clusterName, instance, peers, proxy, nodes, health, lb, failover, replication, security,
                rejoin, http, logging);
    }

    private InstanceConfig readInstance(YamlSection s) {
        String id = s.requiredString("id", "this instance's name, e.g. metako-1");
        if (id != null && !NAME.matcher(id).matches()) {
            s.problem("id", "must be letters, digits, '.', '_' or '-' (at most 63), got '" + id + "'");
        }
        HostPort raft = s.hostPort("raft_address", null);
        if (raft == null && !s.has("raft_address")) {
            s.problem("raft_address", "is required (host:port this instance's Raft peer listens on)");
        }
        HostPort grpc = s.hostPort("grpc_address", null);
        if (grpc == null && !s.has("grpc_address")) {
            s.problem("grpc_address", "is required (host:port of the admin API that metakoctl talks to)");
        }
        HostPort http = s.hostPort("http_address", null);
        String storage = s.requiredString("storage_dir", "a directory for the Raft log and snapshots");
        Secret token = s.secret("auth_token");
        if (!token.isPresent() && !s.has("auth_token") && !s.has("auth_token_file")) {
            s.problem("auth_token", "is required: every admin API call must carry it "
                    + "(generate one with: openssl rand -hex 24, and pass it as ${METAKO_TOKEN} or auth_token_file)");
        } else if (token.isPresent() && token.reveal().length() < 16) {
            s.problem("auth_token", "must be at least 16 characters long");
        }
        Secret readToken = s.secret("read_token");
        if (readToken.isPresent() && readToken.reveal().length() < 16) {
            s.problem("read_token", "must be at least 16 characters long");
        } else if (readToken.isPresent() && token.isPresent() && readToken.reveal().equals(token.reveal())) {
            s.problem("read_token", "must differ from auth_token (that one may do everything)");
        }
        checkDistinct(s, raft, grpc, http);
        java.util.Map<String, HostPort> nodeAddresses = new java.util.TreeMap<>();
        s.section("node_addresses").ifPresent(m -> {
            for (String name : m.keys()) {
                HostPort hp = m.hostPort(name, null);
                if (hp != null) {
                    nodeAddresses.put(name, hp);
                }
            }
        });
        java.util.Optional<ManagedNode> manages = s.section("manages").map(ConfigLoader::readManages);
        s.finish();
        return new InstanceConfig(id, raft, grpc, http, storage == null ? null : Path.of(storage), token, nodeAddresses,
                readToken, manages);
    }

    private static ManagedNode readManages(YamlSection m) {
        String node = m.requiredString("node", "the name (in nodes) of the PostgreSQL node on this instance's host");
        Path data = m.file("data_dir");
        if (data == null && !m.has("data_dir")) {
            m.problem("data_dir", "is required: the node's PGDATA on this host (its parent folder holds postgres.log)");
        } else if (data != null && data.getParent() == null) {
            m.problem("data_dir", "must not be the root folder");
        }
        Path bin = m.file("bin_dir");
        String osUser = m.string("os_user", "postgres");
        m.finish();
        return new ManagedNode(node, data, java.util.Optional.ofNullable(bin), osUser);
    }

    private static LoggingConfig readLogging(YamlSection s) {
        java.time.Duration interval = LoggingConfig.DEFAULT.statusInterval();
        String text = s.string("status_interval", null);
        if (text != null && text.strip().matches("0+(\\.0+)?\\s*(ms|s|m|h)?")) {
            interval = java.time.Duration.ZERO; // off
        } else if (text != null) {
            interval = s.duration("status_interval", interval);
            if (interval.compareTo(java.time.Duration.ofSeconds(1)) < 0) {
                s.problem("status_interval", "must be at least 1s (or 0 to turn the report off), got '" + text + "'");
                interval = LoggingConfig.DEFAULT.statusInterval();
            }
        }
        String level = s.string("level", LoggingConfig.DEFAULT.level()).strip().toLowerCase(Locale.ROOT);
        if (!level.isEmpty() && !LoggingConfig.LEVELS.contains(level)) {
            s.problem("level", "must be one of " + String.join(", ", LoggingConfig.LEVELS) + ", got '" + level + "'");
            level = LoggingConfig.DEFAULT.level();
        }
        s.finish();
        return new LoggingConfig(interval, level);
    }

    private static HttpConfig readHttp(YamlSection s) {
        String auth = s.string("auth", "none").toLowerCase(Locale.ROOT);
        if (!auth.equals("none") && !auth.equals("token")) {
            s.problem("auth", "must be none or token, got '" + auth + "'");
        }
        java.util.Set<String> open = new java.util.TreeSet<>(HttpConfig.DEFAULT.open());
        if (s.has("open")) {
            open.clear();
            for (String group : s.stringList("open")) {
                String g = group.toLowerCase(Locale.ROOT);
                if (!HttpConfig.GROUPS.contains(g)) {
                    s.problem("open", "'" + group + "' is not an endpoint group: use " + String.join(", ", HttpConfig.GROUPS));
                }
                open.add(g);
            }
        }
        s.finish();
        return new HttpConfig(auth.equals("token"), open);
    }

    private static RejoinConfig readRejoin(YamlSection s) {
        boolean auto = s.bool("auto", RejoinConfig.DEFAULT.auto());
        String method = s.string("method", RejoinConfig.DEFAULT.method()).toLowerCase(Locale.ROOT);
        if (!RejoinConfig.METHODS.contains(method)) {
            s.problem("method", "must be rewind_or_clone (pg_rewind from the primary, a fresh pg_basebackup when that"
                    + " fails), rewind (pg_rewind only) or clone (always a fresh pg_basebackup), got '" + method + "'");
        }
        s.finish();
        return new RejoinConfig(auto, method);
    }

    private static void checkDistinct(YamlSection s, HostPort raft, HostPort grpc, HostPort http) {
        if (raft != null && raft.equals(grpc)) {
            s.problem("grpc_address", "must differ from raft_address (" + raft + ")");
        }
        if (http != null && (http.equals(raft) || http.equals(grpc))) {
            s.problem("http_address", "must differ from raft_address and grpc_address");
        }
    }

    private List<PeerConfig> readPeers(YamlSection root, InstanceConfig instance) {
        List<PeerConfig> peers = new ArrayList<>();
        List<YamlSection> items = root.sections("peers");
        if (items.isEmpty() && !root.has("peers")) {
            root.problem("peers", "is required: list every instance of the Raft group (id, raft_address), this one included");
        }
        Map<String, String> ids = new HashMap<>();
        Map<HostPort, String> addresses = new HashMap<>();
        for (YamlSection p : items) {
            String id = p.requiredString("id", "the instance id of this peer");
            HostPort raft = p.hostPort("raft_address", null);
            if (raft == null && !p.has("raft_address")) {
                p.problem("raft_address", "is required (host:port of that peer's Raft endpoint)");
            }
            HostPort grpc = p.hostPort("grpc_address", null);
            p.finish();
            if (id != null && ids.putIfAbsent(id, p.path("id")) != null) {
                p.problem("id", "duplicate peer id '" + id + "' (also at " + ids.get(id) + ")");
            }
            if (raft != null && addresses.putIfAbsent(raft, p.path("raft_address")) != null) {
                p.problem("raft_address", "duplicate address " + raft + " (also at " + addresses.get(raft) + ")");
            }
            peers.add(new PeerConfig(id, raft, grpc));
        }
        if (instance.id() != null && !items.isEmpty()) {
            PeerConfig self = peers.stream().filter(p -> instance.id().equals(p.id())).findFirst().orElse(null);
            if (self == null) {
                root.problem("peers", "must include this instance ('" + instance.id() + "', from instance.id)");
            } else if (self.raftAddress() != null && instance.raftAddress() != null
                    && !self.raftAddress().equals(instance.raftAddress())) {
                root.problem("peers", "this instance's entry has raft_address " + self.raftAddress()
                        + " but instance.raft_address is " + instance.raftAddress());
            }
        }
        return peers;
    }

    private ProxyConfig readProxy(YamlSection s) {
        String host = s.string("listen_host", "127.0.0.1");
        int port = s.integer("port", ProxyConfig.DEFAULT_PORT, 1, 65535);
        int rwPort = s.integer("rw_port", 0, 0, 65535);
        int roPort = s.integer("ro_port", 0, 0, 65535);
        if (rwPort != 0 && (rwPort == port || rwPort == roPort)) {
            s.problem("rw_port", "must differ from port and ro_port (" + rwPort + ")");
        }
        if (roPort != 0 && roPort == port) {
            s.problem("ro_port", "must differ from port (" + roPort + ")");
        }
        long maxMessage = s.size("max_message_size", ProxyConfig.DEFAULT_MAX_MESSAGE_SIZE);
        if (maxMessage < 1024 || maxMessage > (1L << 30)) {
            s.problem("max_message_size", "must be between 1kB and 1GB (PostgreSQL's own limit), got "
                    + Units.formatSize(maxMessage));
        }
        int maxClients = s.integer("max_client_connections", ProxyConfig.DEFAULT_MAX_CLIENT_CONNECTIONS, 1, 1_000_000);
        java.time.Duration startup = s.duration("startup_timeout", ProxyConfig.DEFAULT_STARTUP_TIMEOUT);
        java.time.Duration failoverWait = s.duration("failover_wait", ProxyConfig.DEFAULT_FAILOVER_WAIT);
        boolean staleReads = s.bool("stale_reads", false);
        ProxyConfig.ClientAuth auth = readClientAuth(s);
        List<ProxyConfig.ProxyUser> users = readProxyUsers(s, auth);
        int threads = s.integer("threads", 0, 0, 256);
        io.metako.proxy.net.ProxyEventLoops.Transport transport = io.metako.proxy.net.ProxyEventLoops.Transport.AUTO;
        String transportName = s.string("transport", "auto");
        try {
            transport = io.metako.proxy.net.ProxyEventLoops.Transport.parse(transportName);
        } catch (IllegalArgumentException e) {
            s.problem("transport", e.getMessage()); // the names the parser knows, in one place
        }
        int idleMax = s.integer("backend_idle_max", ProxyConfig.DEFAULT_BACKEND_IDLE_MAX, 0, 10_000);
        java.time.Duration idleTimeout = s.duration("backend_idle_timeout", ProxyConfig.DEFAULT_BACKEND_IDLE_TIMEOUT);
        boolean requireTls = s.bool("require_tls", false);
        long maxBuffered = s.size("max_buffered_bytes", ProxyConfig.defaultMaxBufferedBytes(maxMessage,
                Runtime.getRuntime().maxMemory()));
        if (maxBuffered < maxMessage) {
            s.problem("max_buffered_bytes", "must be at least max_message_size (" + Units.formatSize(maxMessage)
                    + "), or no message of that size could ever be held; got " + Units.formatSize(maxBuffered));
        }
        int maxNewPerSecond = s.integer("max_new_connections_per_second",
                ProxyConfig.DEFAULT_MAX_NEW_CONNECTIONS_PER_SECOND, 0, 1_000_000);
        s.finish();
        return new ProxyConfig(host, port, rwPort, roPort, maxMessage, maxClients, startup, failoverWait, staleReads,
                auth, users, threads, transport, idleMax, idleTimeout, requireTls, maxBuffered, maxNewPerSecond);
    }

    private static ProxyConfig.ClientAuth readClientAuth(YamlSection s) {
        String method = s.string("client_auth", "scram-sha-256");
        switch (method.toLowerCase(Locale.ROOT)) {
            case "scram-sha-256" -> {
                return ProxyConfig.ClientAuth.SCRAM_SHA_256;
            }
            case "md5" -> {
                return ProxyConfig.ClientAuth.MD5;
            }
            case "password" -> {
                return ProxyConfig.ClientAuth.PASSWORD;
            }
            default -> {
                s.problem("client_auth", "must be scram-sha-256, md5 or password, got '" + method + "'");
                return ProxyConfig.ClientAuth.SCRAM_SHA_256;
            }
        }
    }

    private static List<ProxyConfig.ProxyUser> readProxyUsers(YamlSection s, ProxyConfig.ClientAuth auth) {
        List<ProxyConfig.ProxyUser> users = new ArrayList<>();
        Map<String, String> seen = new HashMap<>();
        for (YamlSection u : s.sections("users")) {
            String name = u.requiredString("name", "the PostgreSQL user name clients log in with");
            Secret password = u.secret("password");
            Secret verifier = u.secret("scram_verifier");
            u.finish();
            if (name != null && seen.putIfAbsent(name, u.path("name")) != null) {
                u.problem("name", "duplicate user '" + name + "' (also at " + seen.get(name) + ")");
            }
            if (!password.isPresent() && !verifier.isPresent() && !u.problemsMentionPath("password")
                    && !u.problemsMentionPath("scram_verifier")) {
                u.problem("password", "is required (or scram_verifier, as in pg_authid: SCRAM-SHA-256$4096:...)");
            }
            if (verifier.isPresent() && io.metako.proxy.auth.ScramVerifier.parse(verifier.reveal()) == null) {
                u.problem("scram_verifier", "is not a SCRAM-SHA-256 verifier (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)");
            }
            if (verifier.isPresent() && !password.isPresent() && auth != ProxyConfig.ClientAuth.SCRAM_SHA_256) {
                u.problem("scram_verifier", "works only with client_auth: scram-sha-256; give a password for " + auth);
            }
            users.add(new ProxyConfig.ProxyUser(name, password, verifier));
        }
        return users;
    }

    private List<NodeConfig> readNodes(YamlSection root) {
        List<YamlSection> items = root.sections("nodes");
        if (items.isEmpty() && !root.problemsMentionPath("nodes")) {
            root.problem("nodes", "is required: list the PostgreSQL nodes (name, host, port, role), at least one");
        }
        List<NodeConfig> nodes = new ArrayList<>();
        Map<String, String> names = new HashMap<>();
        Map<String, String> addresses = new HashMap<>();
        for (YamlSection n : items) {
            NodeConfig node = readNode(n);
            if (node.name() != null && names.putIfAbsent(node.name(), n.path("name")) != null) {
                n.problem("name", "duplicate node name '" + node.name() + "' (also at " + names.get(node.name()) + ")");
            }
            boolean addressValid = node.host() != null && !n.problemsMentionPath("port");
            if (addressValid && addresses.putIfAbsent(node.address(), n.path("port")) != null) {
                n.problem("port", "another node already uses " + node.address() + " (" + addresses.get(node.address()) + ")");
            }
            nodes.add(node);
        }
        long primaries = nodes.stream().filter(n -> n.initialRole() == NodeConfig.Role.PRIMARY).count();
        if (!nodes.isEmpty() && primaries == 0) {
            root.problem("nodes", "no node has role: primary (or master); mark the node that is primary now");
        } else if (primaries > 1) {
            root.problem("nodes", "more than one node has role: primary (" + primaries + "); exactly one must");
        }
        return nodes;
    }

    private NodeConfig readNode(YamlSection n) {
        String name = n.requiredString("name", "a unique node name, e.g. pg-1");
        if (name != null && !NAME.matcher(name).matches()) {
            n.problem("name", "must be letters, digits, '.', '_' or '-' (at most 63), got '" + name + "'");
        }
        String host = n.requiredString("host", "host name or IP address of the PostgreSQL server");
        int port = n.integer("port", 5432, 1, 65535);
        NodeConfig.Role role = readRole(n);
        String user = n.string("username", "postgres");
        Secret password = n.secret("password");
        String database = n.string("database", "postgres");
        YamlSection tags = n.sectionOrEmpty("tags");
        int priority = tags.integer("priority", 0, 0, 1_000_000);
        boolean nofailover = tags.bool("nofailover", false);
        boolean noloadbalance = tags.bool("noloadbalance", false);
        tags.finish();
        n.finish();
        return new NodeConfig(name, host, port, role, user, password, database, priority, nofailover, noloadbalance);
    }

    private static NodeConfig.Role readRole(YamlSection n) {
        String role = n.string("role", "replica");
        switch (role.toLowerCase(Locale.ROOT)) {
            case "primary", "master" -> {
                return NodeConfig.Role.PRIMARY;
            }
            case "replica", "slave", "standby" -> {
                return NodeConfig.Role.REPLICA;
            }
            default -> {
                String near = Suggest.nearest(role, List.of("primary", "replica", "master", "slave"));
                n.problem("role", "must be primary or replica (master/slave also accepted), got '" + role + "'"
                        + (near == null ? "" : "; did you mean '" + near + "'?"));
                return NodeConfig.Role.REPLICA;
            }
        }
    }

    private static HealthCheckConfig readHealth(YamlSection s) {
        Duration interval = s.duration("interval", HealthCheckConfig.DEFAULT_INTERVAL);
        Duration timeout = s.duration("timeout", HealthCheckConfig.DEFAULT_TIMEOUT);
        int failures = s.integer("failure_threshold", HealthCheckConfig.DEFAULT_FAILURE_THRESHOLD, 1, 100);
        int recoveries = s.integer("recovery_threshold", HealthCheckConfig.DEFAULT_RECOVERY_THRESHOLD, 1, 100);
        if (timeout.compareTo(interval) > 0) {
            s.problem("timeout", "must not exceed interval (" + Units.formatDuration(interval)
                    + "), or probes of one node would overlap");
        }
        s.finish();
        return new HealthCheckConfig(interval, timeout, failures, recoveries);
    }

    private static LoadBalancerConfig readLoadBalancer(YamlSection s) {
        String name = s.string("algorithm", "round_robin");
        LoadBalancerConfig.Algorithm algorithm = switch (name.toLowerCase(Locale.ROOT)) {
            case "round_robin" -> LoadBalancerConfig.Algorithm.ROUND_ROBIN;
            case "least_connections", "least_connected" -> LoadBalancerConfig.Algorithm.LEAST_CONNECTIONS;
            default -> {
                String near = Suggest.nearest(name, List.of("round_robin", "least_connections", "least_connected"));
                s.problem("algorithm", "must be round_robin or least_connections, got '" + name + "'"
                        + (near == null ? "" : "; did you mean '" + near + "'?"));
                yield LoadBalancerConfig.Algorithm.ROUND_ROBIN;
            }
        };
        Duration read = durationOrOff(s, "read_timeout");
        Duration write = durationOrOff(s, "write_timeout");
        long lag = s.size("max_replica_lag", LoadBalancerConfig.DEFAULT_MAX_REPLICA_LAG_BYTES);
        s.finish();
        return new LoadBalancerConfig(algorithm, read, write, lag);
    }

    /** A duration where 0 (or absent) means "no limit". */
    private static Duration durationOrOff(YamlSection s, String key) {
        String text = s.string(key, null);
        if (text == null || text.strip().matches("0+(\\.0+)?\\s*(ms|s|m|h)?")) {
            return Duration.ZERO;
        }
        return s.duration(key, Duration.ZERO);
    }

    private static FailoverConfig readFailover(YamlSection s) {
        long lag = s.size("maximum_lag_on_failover", FailoverConfig.DEFAULT_MAXIMUM_LAG_BYTES);
        Duration cooldown = s.duration("cooldown", FailoverConfig.DEFAULT_COOLDOWN);
        Duration lease = s.duration("lease", FailoverConfig.DEFAULT_LEASE);
        s.finish();
        return new FailoverConfig(lag, cooldown, lease);
    }

    private static ReplicationConfig readReplication(YamlSection s, int nodeCount) {
        String mode = s.string("mode", "async");
        ReplicationConfig.Mode m = switch (mode.toLowerCase(Locale.ROOT)) {
            case "async" -> ReplicationConfig.Mode.ASYNC;
            case "sync" -> ReplicationConfig.Mode.SYNC;
            default -> {
                s.problem("mode", "must be async or sync, got '" + mode + "'");
                yield ReplicationConfig.Mode.ASYNC;
            }
        };
        int standbys = s.integer("sync_standbys", 1, 1, 100);
        if (m == ReplicationConfig.Mode.SYNC && nodeCount > 0 && standbys > nodeCount - 1) {
            s.problem("sync_standbys", "is " + standbys + " but only " + (nodeCount - 1)
                    + " replica(s) are configured; writes would block forever");
        }
        String passfile = s.string("passfile", "");
        if (!passfile.isEmpty() && !passfile.startsWith("/")) {
            s.problem("passfile", "must be an absolute path on the nodes' hosts (where PostgreSQL reads it), got '"
                    + passfile + "'");
        }
        s.finish();
        return new ReplicationConfig(m, standbys, passfile.isEmpty() ? java.util.Optional.empty()
                : java.util.Optional.of(passfile));
    }

    private static SecurityConfig readSecurity(YamlSection s) {
        boolean tls = s.bool("tls_enabled", false);
        boolean apiTls = s.bool("api_tls_enabled", false);
        boolean raftTls = s.bool("raft_tls_enabled", false);
        boolean httpTls = s.bool("http_tls_enabled", false);
        Path cert = s.file("cert_file");
        Path key = s.file("key_file");
        if (tls || apiTls || raftTls || httpTls) {
            String when = tls ? "tls_enabled is true" : apiTls ? "api_tls_enabled is true"
                    : raftTls ? "raft_tls_enabled is true" : "http_tls_enabled is true";
            requireReadable(s, "cert_file", cert, when);
            requireReadable(s, "key_file", key, when);
        }
        Path raftCa = s.file("raft_ca_file");
        if (raftTls) {
            requireReadable(s, "raft_ca_file", raftCa, "raft_tls_enabled is true (the cluster CA that signed every"
                    + " instance's certificate; deploy/certs.sh init makes one)");
        } else if (raftCa != null) {
            s.problem("raft_ca_file", "is only used with raft_tls_enabled: set it, or remove the key");
        }
        Path apiClientCa = s.file("api_client_ca_file");
        if (apiClientCa != null && !apiTls) {
            s.problem("api_client_ca_file", "needs api_tls_enabled: client certificates are only asked for over TLS");
        } else if (apiClientCa != null) {
            requireReadable(s, "api_client_ca_file", apiClientCa, "set");
        }
        // not set: prefer, the default of libpq and pgjdbc
        io.metako.proxy.session.RouterSettings.SslMode backendMode = io.metako.proxy.session.RouterSettings.SslMode.PREFER;
        try {
            backendMode = io.metako.proxy.session.RouterSettings.SslMode.parse(s.string("backend_sslmode", "prefer"));
        } catch (IllegalArgumentException e) {
            s.problem("backend_sslmode", e.getMessage());
        }
        Path rootCert = s.file("backend_ssl_root_cert");
        if (backendMode.verifies()) {
            requireReadable(s, "backend_ssl_root_cert", rootCert, "backend_sslmode is " + backendMode.setting()
                    + " (the CA certificate, PEM, that the nodes' certificates are signed by)");
        } else if (rootCert != null) {
            s.problem("backend_ssl_root_cert", "is only used with backend_sslmode verify-ca or verify-full (it is "
                    + backendMode.setting() + "): set one of those, or remove the key");
        }
        boolean cleartext = s.bool("backend_allow_cleartext_password", false);
        s.finish();
        return new SecurityConfig(tls, cert, key, backendMode, rootCert, cleartext, apiTls, apiClientCa, raftTls, raftCa,
                httpTls);
    }

    private static void requireReadable(YamlSection s, String key, Path file, String when) {
        if (file == null) {
            s.problem(key, "is required when " + when);
        } else if (!Files.isReadable(file)) {
            s.problem(key, "cannot read " + file + ": check the path and permissions");
        }
    }
}

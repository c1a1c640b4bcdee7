package io.metako.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ConfigLoaderTest {
    private static final Map<String, String> ENV = Map.of(
            "METAKO_TOKEN", "0123456789abcdef0123456789",
            "PG_PASSWORD", "s3cret-password",
            "PG_METAKO_PASSWORD", "another-s3cret",
            "APP_PASSWORD", "app-s3cret");
    private static final ConfigLoader LOADER = new ConfigLoader(ENV::get);

    static final String VALID = """
            cluster_name: test
            instance:
              id: metako-1
              raft_address: 127.0.0.1:7001
              grpc_address: 127.0.0.1:7101
              http_address: 127.0.0.1:7201
              storage_dir: /tmp/metako-1
              auth_token: ${METAKO_TOKEN}
            peers:
              - id: metako-1
                raft_address: 127.0.0.1:7001
              - id: metako-2
                raft_address: 127.0.0.1:7002
            nodes:
              - name: pg-1
                host: 127.0.0.1
                port: 5432
                role: master
                username: postgres
                password: ${PG_PASSWORD}
              - name: pg-2
                host: 127.0.0.1
                port: 5433
                role: slave
                password: ${PG_PASSWORD}
            health_check:
              interval: 1s
              timeout: 500ms
              failure_threshold: 3
            load_balancer:
              algorithm: least_connected
            """;

    static MetakoConfig parse(String yaml) {
        return LOADER.parse(yaml, "test.yaml", Path.of("/tmp"));
    }

    @Test
    void validFileLoadsWithTheSeedsSpellings() {
        MetakoConfig c = parse(VALID);
        assertThat(c.instance().id()).isEqualTo("metako-1");
        assertThat(c.peers()).hasSize(2);
        assertThat(c.nodes()).extracting(NodeConfig::initialRole)
                .containsExactly(NodeConfig.Role.PRIMARY, NodeConfig.Role.REPLICA);
        assertThat(c.loadBalancer().algorithm()).isEqualTo(LoadBalancerConfig.Algorithm.LEAST_CONNECTIONS);
        assertThat(c.healthCheck().timeout()).isEqualTo(Duration.ofMillis(500));
        assertThat(c.healthCheck().recoveryThreshold()).isEqualTo(HealthCheckConfig.DEFAULT_RECOVERY_THRESHOLD);
        assertThat(c.nodes().get(0).password().reveal()).isEqualTo("s3cret-password");
    }

    @Test
    void secretsNeverShowInToStringOrErrors() {
        MetakoConfig c = parse(VALID);
        assertThat(c.toString()).doesNotContain("s3cret-password").doesNotContain("0123456789abcdef");
        assertThatThrownBy(() -> parse(VALID.replace("  failure_threshold: 3", "  failure_threshold: s3cret-password")))
                .hasMessageContaining("failure_threshold");
        assertThatThrownBy(() -> parse(VALID.replace("interval: 1s", "interval: 0s")))
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("s3cret-password"));
    }

    @Test
    void passwordFileIsReadAndRelativeToTheConfig(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("pw"), "from-a-file\n");
        Files.writeString(dir.resolve("c.yaml"), VALID.replace("    role: slave\n    password: ${PG_PASSWORD}",
                "    role: slave\n    password_file: pw"));
        MetakoConfig c = LOADER.load(dir.resolve("c.yaml"));
        assertThat(c.nodes().get(1).password().reveal()).isEqualTo("from-a-file");
    }

    @Test
    void aSecretFileOthersMayReadIsLoadedWithAWarning(@TempDir Path dir) throws IOException {
        Path pw = dir.resolve("pw");
        Files.writeString(pw, "from-a-file\n");
        Files.setPosixFilePermissions(pw, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        Files.writeString(dir.resolve("c.yaml"), VALID.replace("    role: slave\n    password: ${PG_PASSWORD}",
                "    role: slave\n    password_file: pw"));
        ch.qos.logback.classic.Logger log = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(YamlSection.class);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> seen = new ch.qos.logback.core.read.ListAppender<>();
        seen.start();
        log.addAppender(seen);
        try {
            MetakoConfig c = LOADER.load(dir.resolve("c.yaml"));
            assertThat(c.nodes().get(1).password().reveal()).isEqualTo("from-a-file");
        } finally {
            log.detachAppender(seen);
        }
        assertThat(seen.list).extracting(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .anySatisfy(m -> assertThat(m).contains("nodes[1].password_file", "every user of this host", "chmod 600")
                        .doesNotContain("from-a-file"));
        Files.setPosixFilePermissions(pw, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        seen.list.clear();
        log.addAppender(seen);
        try {
            LOADER.load(dir.resolve("c.yaml"));
        } finally {
            log.detachAppender(seen);
        }
        assertThat(seen.list).as("a 0600 file is fine").isEmpty();
    }

    @Test
    void anInstanceManagesOneNodeAndOldPrimariesRejoinOnTheirOwnByDefault() {
        MetakoConfig plain = parse(VALID);
        assertThat(plain.instance().manages()).isEmpty();
        assertThat(plain.rejoin()).isEqualTo(RejoinConfig.DEFAULT);
        assertThat(plain.rejoin().auto()).isTrue();
        assertThat(plain.rejoin().method()).isEqualTo("rewind_or_clone");

        MetakoConfig c = parse(VALID.replace("  auth_token: ${METAKO_TOKEN}\n", "  auth_token: ${METAKO_TOKEN}\n"
                + "  manages:\n    node: pg-1\n    data_dir: pg-1/data\n")
                + "rejoin:\n  auto: false\n  method: rewind\n");
        ManagedNode m = c.instance().manages().orElseThrow();
        assertThat(m.node()).isEqualTo("pg-1");
        assertThat(m.dataDir()).as("relative to the config's folder").isEqualTo(Path.of("/tmp/pg-1/data"));
        assertThat(m.binDir()).isEmpty();
        assertThat(m.osUser()).isEqualTo("postgres");
        assertThat(c.rejoin()).isEqualTo(new RejoinConfig(false, "rewind"));
    }

    @Test
    void aManagedNodeMustBeOneOfTheNodesWithItsDataDirectory() {
        String yaml = VALID.replace("  auth_token: ${METAKO_TOKEN}\n", "  auth_token: ${METAKO_TOKEN}\n"
                + "  manages:\n    node: pg-7\n") + "rejoin:\n  method: rsync\n";
        assertThatThrownBy(() -> parse(yaml)).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).containsExactlyInAnyOrder(
                        "instance.manages.data_dir: is required: the node's PGDATA on this host (its parent folder holds"
                                + " postgres.log)",
                        "rejoin.method: must be rewind_or_clone (pg_rewind from the primary, a fresh pg_basebackup when"
                                + " that fails), rewind (pg_rewind only) or clone (always a fresh pg_basebackup), got 'rsync'",
                        "instance.manages.node: 'pg-7' is not a node in nodes"));
    }

    @Test
    void httpAsksNoTokenByDefaultAndWithAuthTokenAllButTheOpenGroups() {
        MetakoConfig plain = parse(VALID);
        assertThat(plain.http()).isEqualTo(HttpConfig.DEFAULT);
        assertThat(plain.http().needsToken("cluster")).isFalse();
        assertThat(plain.security().httpTlsEnabled()).isFalse();

        String withRead = VALID.replace("  auth_token: ${METAKO_TOKEN}\n", "  auth_token: ${METAKO_TOKEN}\n  read_token: read-token-0123456789\n");
        MetakoConfig token = parse(withRead + "http:\n  auth: token\n");
        assertThat(token.http().needsToken("cluster")).isTrue();
        assertThat(token.http().needsToken("health")).isFalse();
        assertThat(token.http().needsToken("metrics")).isFalse();
        MetakoConfig closed = parse(withRead + "http:\n  auth: token\n  open: []\n");
        assertThat(closed.http().needsToken("health")).isTrue();
        assertThat(parse(withRead + "http:\n  auth: token\n  open: [health, cluster]\n").http().needsToken("metrics"))
                .isTrue();
    }

    @Test
    void theStatusReportComesEveryMinuteByDefaultAndZeroTurnsItOff() {
        assertThat(parse(VALID).logging().statusInterval()).isEqualTo(java.time.Duration.ofSeconds(60));
        assertThat(parse(VALID + "logging:\n  status_interval: 15s\n").logging().statusInterval())
                .isEqualTo(java.time.Duration.ofSeconds(15));
        assertThat(parse(VALID + "logging:\n  status_interval: 0\n").logging().statusInterval()).isZero();
        assertThat(parse(VALID + "logging:\n  status_interval: 0s\n").logging().statusInterval()).isZero();
        assertThat(parse(VALID + "logging:\n  status_interval: 0.0s\n").logging().statusInterval()).isZero();
        assertThatThrownBy(() -> parse(VALID + "logging:\n  status_interval: 10ms\n")).isInstanceOfSatisfying(
                ConfigException.class, e -> assertThat(e.problems()).containsExactly(
                        "logging.status_interval: must be at least 1s (or 0 to turn the report off), got '10ms'"));
        assertThatThrownBy(() -> parse(VALID + "logging:\n  status_interval: often\n  verbosity: debug\n"))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactlyInAnyOrder(
                        "logging.status_interval: must be a duration such as \"250ms\", \"5s\" or \"1m\", got 'often'",
                        "logging.verbosity: unknown key (known keys: status_interval, level)"));
    }

    @Test
    void statementTimeLimitsAreOffUnlessSet() {
        assertThat(parse(VALID).loadBalancer().readTimeout()).isZero();
        assertThat(parse(VALID).loadBalancer().writeTimeout()).isZero();
        String yaml = VALID.replace("algorithm: least_connected", "algorithm: least_connected\n  read_timeout: 30s\n"
                + "  write_timeout: 0");
        assertThat(yaml).contains("read_timeout: 30s");
        assertThat(parse(yaml).loadBalancer().readTimeout()).isEqualTo(java.time.Duration.ofSeconds(30));
        assertThat(parse(yaml).loadBalancer().writeTimeout()).isZero();
        assertThatThrownBy(() -> parse(yaml.replace("read_timeout: 30s", "read_timeout: forever")))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
                        "load_balancer.read_timeout: must be a duration such as \"250ms\", \"5s\" or \"1m\", got 'forever'"));
    }

    @Test
    void badHttpSettingsAreNamed() {
        String yaml = VALID.replace("  http_address: 127.0.0.1:7201\n", "")
                + "http:\n  auth: basic\n  open: [health, secrets]\nsecurity:\n  http_tls_enabled: true\n";
        assertThatThrownBy(() -> parse(yaml)).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).containsExactlyInAnyOrder(
                        "http.auth: must be none or token, got 'basic'",
                        "http.open: 'secrets' is not an endpoint group: use health, metrics, cluster",
                        "security.http_tls_enabled: needs instance.http_address: there is no HTTP endpoint to secure",
                        "security.cert_file: is required when http_tls_enabled is true",
                        "security.key_file: is required when http_tls_enabled is true"));
        assertThatThrownBy(() -> parse(VALID + "http:\n  auth: token\n")).isInstanceOfSatisfying(ConfigException.class,
                e -> assertThat(e.problems()).containsExactly("http.auth: token needs instance.read_token: the admin token"
                        + " (auth_token) is not accepted over plain HTTP, where anyone on the path would read it (or set"
                        + " security.http_tls_enabled)"));
        assertThatThrownBy(() -> parse(VALID + "http:\n  open: health\n")).isInstanceOfSatisfying(
                ConfigException.class, e -> assertThat(e.problems()).containsExactly(
                        "http.open: must be a list (e.g. [health, metrics]), got 'health'"));
    }

    @Test
    void everyProblemIsReportedAtOnce() {
        String yaml = VALID.replace("port: 5433", "port: 70000").replace("interval: 1s", "interval: soon")
                .replace("algorithm: least_connected", "algorithm: random");
        assertThatThrownBy(() -> parse(yaml)).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).hasSize(3));
    }

    @Test
    void proxyEventLoopsDefaultToOnePerFourCoresAndTheBestTransport() {
        MetakoConfig c = parse(VALID);
        assertThat(c.proxy().transport()).isEqualTo(io.metako.proxy.net.ProxyEventLoops.Transport.AUTO);
        assertThat(c.proxy().eventLoopThreads(2)).isEqualTo(1);
        assertThat(c.proxy().eventLoopThreads(16)).isEqualTo(4);
        MetakoConfig set = parse(VALID + "proxy:\n  threads: 3\n  transport: nio\n");
        assertThat(set.proxy().eventLoopThreads(2)).isEqualTo(3);
        assertThat(set.proxy().transport()).isEqualTo(io.metako.proxy.net.ProxyEventLoops.Transport.NIO);
    }

    @Test
    void backendConnectionsAreKeptForReuseUnlessTurnedOff() {
        MetakoConfig c = parse(VALID);
        assertThat(c.proxy().backendIdleMax()).isEqualTo(20);
        assertThat(c.proxy().backendIdleTimeout()).isEqualTo(Duration.ofSeconds(60));
        MetakoConfig off = parse(VALID + "proxy:\n  backend_idle_max: 0\n  backend_idle_timeout: 10m\n");
        assertThat(off.proxy().backendIdleMax()).isZero();
        assertThat(off.proxy().backendIdleTimeout()).isEqualTo(Duration.ofMinutes(10));
    }

    @Test
    void tlsToTheNodesIsPreferByDefaultAndVerificationNamesItsRootCertificate(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws java.io.IOException {
        MetakoConfig c = parse(VALID);
        assertThat(c.security().backendSslMode()).isEqualTo(io.metako.proxy.session.RouterSettings.SslMode.PREFER);
        assertThat(c.security().jdbcProperties()).as("the probes use the same").isEqualTo(java.util.Map.of("sslmode", "prefer"));
        assertThat(parse(VALID + "security:\n  backend_sslmode: disable\n").security().jdbcProperties())
                .isEqualTo(java.util.Map.of("sslmode", "disable"));
        java.nio.file.Path ca = java.nio.file.Files.writeString(dir.resolve("ca.crt"), "not parsed here");
        MetakoConfig full = parse(VALID + "security:\n  backend_sslmode: verify-full\n  backend_ssl_root_cert: " + ca + "\n");
        assertThat(full.security().backendSslMode()).isEqualTo(io.metako.proxy.session.RouterSettings.SslMode.VERIFY_FULL);
        assertThat(full.security().jdbcProperties())
                .isEqualTo(java.util.Map.of("sslmode", "verify-full", "sslrootcert", ca.toString()));
        assertThat(parse(VALID + "security:\n  backend_sslmode: PREFER\n").security().backendSslMode())
                .isEqualTo(io.metako.proxy.session.RouterSettings.SslMode.PREFER);
    }

    @Test
    void proxyUsersTakePasswordsOrScramVerifiers() {
        String verifier = io.metako.proxy.auth.ScramVerifier.fromPassword("pw", new java.security.SecureRandom()).format();
        MetakoConfig c = parse(VALID + "proxy:\n  port: 7432\n  rw_port: 7433\n  stale_reads: true\n  failover_wait: 3s\n"
                + "  users:\n    - name: app\n      password: ${PG_PASSWORD}\n    - name: report\n      scram_verifier: '" + verifier + "'\n");
        assertThat(c.proxy().port()).isEqualTo(7432);
        assertThat(c.proxy().rwPort()).isEqualTo(7433);
        assertThat(c.proxy().roPort()).isZero();
        assertThat(c.proxy().staleReads()).isTrue();
        assertThat(c.proxy().failoverWait()).isEqualTo(Duration.ofSeconds(3));
        assertThat(c.proxy().clientAuth()).isEqualTo(ProxyConfig.ClientAuth.SCRAM_SHA_256);
        assertThat(c.proxy().users()).extracting(ProxyConfig.ProxyUser::name).containsExactly("app", "report");
        assertThat(c.proxy().users().get(1).scramVerifier().reveal()).isEqualTo(verifier);
        assertThat(c.toString()).doesNotContain(verifier).doesNotContain("s3cret-password");
    }

    @Test
    void missingFileSaysSo() {
        assertThatThrownBy(() -> LOADER.load(Path.of("/nonexistent/metako.yaml")))
                .hasMessageContaining("file not found");
    }

    static Stream<Arguments> badInputs() {
        return Stream.of(
                bad("not YAML at all", "nodes: [unclosed", "not valid YAML at line"),
                bad("a list instead of a mapping", "- a\n- b", "must be a YAML mapping"),
                bad("an empty document", "", "empty document"),
                bad("duplicate key", VALID + "cluster_name: again\n", "not valid YAML"),
                bad("misspelt top-level key", VALID + "helth_check:\n  interval: 1s\n", "helth_check: unknown key; did you mean 'health_check'?"),
                bad("misspelt node key", VALID.replace("    host: 127.0.0.1\n    port: 5432", "    hots: 127.0.0.1\n    port: 5432"),
                        "nodes[0].hots: unknown key; did you mean 'host'?"),
                bad("unknown key without a near match", VALID + "zzzzzzzz: 1\n", "zzzzzzzz: unknown key (known keys:"),
                bad("missing instance id", VALID.replace("  id: metako-1\n  raft", "  raft"), "instance.id: is required"),
                bad("instance id with a space", VALID.replace("  id: metako-1\n  raft", "  id: metako one\n  raft"), "instance.id: must be letters"),
                bad("raft address without port", VALID.replace("raft_address: 127.0.0.1:7001\n  grpc", "raft_address: 127.0.0.1\n  grpc"),
                        "instance.raft_address: must be host:port"),
                bad("grpc port out of range", VALID.replace("grpc_address: 127.0.0.1:7101", "grpc_address: 127.0.0.1:99999"),
                        "instance.grpc_address: port must be 1-65535"),
                bad("grpc equals raft", VALID.replace("grpc_address: 127.0.0.1:7101", "grpc_address: 127.0.0.1:7001"),
                        "instance.grpc_address: must differ from raft_address"),
                bad("no storage dir", VALID.replace("  storage_dir: /tmp/metako-1\n", ""), "instance.storage_dir: is required"),
                bad("no auth token", VALID.replace("  auth_token: ${METAKO_TOKEN}\n", ""), "instance.auth_token: is required"),
                bad("short auth token", VALID.replace("${METAKO_TOKEN}", "short"), "instance.auth_token: must be at least 16"),
                bad("read token equal to the admin token", VALID.replace("  auth_token: ${METAKO_TOKEN}\n",
                        "  auth_token: ${METAKO_TOKEN}\n  read_token: ${METAKO_TOKEN}\n"), "instance.read_token: must differ from auth_token"),
                bad("unset environment variable", VALID.replace("${METAKO_TOKEN}", "${NOT_SET_ANYWHERE}"),
                        "instance.auth_token: environment variable NOT_SET_ANYWHERE is not set"),
                bad("no peers", VALID.replace("peers:\n  - id: metako-1\n    raft_address: 127.0.0.1:7001\n  - id: metako-2\n    raft_address: 127.0.0.1:7002\n", ""),
                        "peers: is required"),
                bad("peers without this instance", VALID.replace("  - id: metako-1\n    raft_address: 127.0.0.1:7001\n", "  - id: metako-3\n    raft_address: 127.0.0.1:7003\n"),
                        "peers: must include this instance ('metako-1'"),
                bad("duplicate peer id", VALID.replace("  - id: metako-2", "  - id: metako-1"), "peers[1].id: duplicate peer id 'metako-1'"),
                bad("duplicate peer address", VALID.replace("raft_address: 127.0.0.1:7002", "raft_address: 127.0.0.1:7001"),
                        "peers[1].raft_address: duplicate address 127.0.0.1:7001"),
                bad("self peer address differs", VALID.replace("  - id: metako-1\n    raft_address: 127.0.0.1:7001", "  - id: metako-1\n    raft_address: 127.0.0.1:7009"),
                        "peers: this instance's entry has raft_address 127.0.0.1:7009"),
                bad("peers not a list", VALID.replace("peers:\n  - id: metako-1", "peers: metako-1\nxpeers:\n  - id: metako-1"), "peers: must be a list"),
                bad("no nodes", VALID.substring(0, VALID.indexOf("nodes:")) + "health_check:\n  interval: 1s\n", "nodes: is required"),
                bad("node without a name", VALID.replace("  - name: pg-2\n", "  - port2: 1\n"), "nodes[1].name: is required"),
                bad("duplicate node name", VALID.replace("name: pg-2", "name: pg-1"), "nodes[1].name: duplicate node name 'pg-1'"),
                bad("node port out of range", VALID.replace("port: 5433", "port: 70000"), "nodes[1].port: must be 1-65535, got 70000"),
                bad("node port not a number", VALID.replace("port: 5433", "port: five"), "nodes[1].port: must be a whole number"),
                bad("two nodes on one address", VALID.replace("port: 5433", "port: 5432"), "nodes[1].port: another node already uses 127.0.0.1:5432"),
                bad("unknown role", VALID.replace("role: slave", "role: replcia"), "nodes[1].role: must be primary or replica (master/slave also accepted), got 'replcia'; did you mean 'replica'?"),
                bad("two primaries", VALID.replace("role: slave", "role: primary"), "nodes: more than one node has role: primary"),
                bad("no primary", VALID.replace("role: master", "role: replica"), "nodes: no node has role: primary"),
                bad("password and password_file", VALID.replace("    role: slave\n", "    role: slave\n    password_file: /x\n"),
                        "nodes[1].password: set either password or password_file, not both"),
                bad("unreadable password file", VALID.replace("    role: slave\n    password: ${PG_PASSWORD}", "    role: slave\n    password_file: /nonexistent/pw"),
                        "nodes[1].password_file: cannot read /nonexistent/pw"),
                bad("bad duration", VALID.replace("interval: 1s", "interval: soon"), "health_check.interval: must be a duration"),
                bad("zero duration", VALID.replace("interval: 1s", "interval: 0s"), "health_check.interval: must be greater than zero"),
                bad("timeout longer than interval", VALID.replace("timeout: 500ms", "timeout: 2s"), "health_check.timeout: must not exceed interval (1s)"),
                bad("failure threshold zero", VALID.replace("failure_threshold: 3", "failure_threshold: 0"), "health_check.failure_threshold: must be 1-100, got 0"),
                bad("unknown algorithm", VALID.replace("algorithm: least_connected", "algorithm: round_robbin"),
                        "load_balancer.algorithm: must be round_robin or least_connections, got 'round_robbin'; did you mean 'round_robin'?"),
                bad("bad size", VALID + "failover:\n  maximum_lag_on_failover: lots\n", "failover.maximum_lag_on_failover: must be a size"),
                bad("bad replication mode", VALID + "replication:\n  mode: semi\n", "replication.mode: must be async or sync, got 'semi'"),
                bad("more sync standbys than replicas", VALID + "replication:\n  mode: sync\n  sync_standbys: 2\n",
                        "replication.sync_standbys: is 2 but only 1 replica(s) are configured"),
                bad("tls without files", VALID + "security:\n  tls_enabled: true\n", "security.cert_file: is required when tls_enabled is true"),
                bad("tls flag not boolean", VALID + "security:\n  tls_enabled: maybe\n", "security.tls_enabled: must be true or false, got 'maybe'"),
                bad("unknown backend sslmode", VALID + "security:\n  backend_sslmode: verify\n",
                        "security.backend_sslmode: must be disable, prefer, require, verify-ca or verify-full, got 'verify'"),
                bad("verification without a root certificate", VALID + "security:\n  backend_sslmode: verify-ca\n",
                        "security.backend_ssl_root_cert: is required when backend_sslmode is verify-ca"),
                bad("root certificate that cannot be read", VALID + "security:\n  backend_sslmode: verify-full\n"
                        + "  backend_ssl_root_cert: /nonexistent/ca.crt\n", "security.backend_ssl_root_cert: cannot read /nonexistent/ca.crt"),
                bad("root certificate without verification", VALID + "security:\n  backend_sslmode: require\n"
                        + "  backend_ssl_root_cert: /etc/hostname\n",
                        "security.backend_ssl_root_cert: is only used with backend_sslmode verify-ca or verify-full"),
                bad("section given as a scalar", VALID.replace("health_check:\n  interval: 1s\n  timeout: 500ms\n  failure_threshold: 3\n", "health_check: fast\n"),
                        "health_check: must be a mapping"),
                bad("tag priority negative", VALID.replace("    role: slave\n", "    role: slave\n    tags:\n      priority: -1\n"),
                        "nodes[1].tags.priority: must be 0-1000000, got -1"),
                bad("node address override for an unknown node", VALID.replace("  auth_token: ${METAKO_TOKEN}\n",
                        "  auth_token: ${METAKO_TOKEN}\n  node_addresses:\n    pg-9: 127.0.0.1:6000\n"),
                        "instance.node_addresses.pg-9: is not a node in nodes"),
                bad("node address override that is not host:port", VALID.replace("  auth_token: ${METAKO_TOKEN}\n",
                        "  auth_token: ${METAKO_TOKEN}\n  node_addresses:\n    pg-1: nowhere\n"),
                        "instance.node_addresses.pg-1: must be host:port"),
                bad("proxy rw_port equal to port", VALID + "proxy:\n  port: 6432\n  rw_port: 6432\n",
                        "proxy.rw_port: must differ from port and ro_port (6432)"),
                bad("proxy message limit too small", VALID + "proxy:\n  max_message_size: 10\n",
                        "proxy.max_message_size: must be between 1kB and 1GB"),
                bad("buffer budget under one message", VALID + "proxy:\n  max_message_size: 64MB\n  max_buffered_bytes: 1MB\n",
                        "proxy.max_buffered_bytes: must be at least max_message_size (64MB)"),
                bad("negative connection rate", VALID + "proxy:\n  max_new_connections_per_second: -1\n",
                        "proxy.max_new_connections_per_second"),
                bad("proxy client_auth unknown", VALID + "proxy:\n  client_auth: trust\n",
                        "proxy.client_auth: must be scram-sha-256, md5 or password, got 'trust'"),
                bad("require_tls without TLS", VALID + "proxy:\n  require_tls: true\n  users:\n    - name: app\n      password: x\n",
                        "proxy.require_tls: needs security.tls_enabled"),
                bad("proxy user without a password", VALID + "proxy:\n  users:\n    - name: app\n",
                        "proxy.users[0].password: is required (or scram_verifier"),
                bad("proxy user with a malformed verifier", VALID + "proxy:\n  users:\n    - name: app\n      scram_verifier: md5abc\n",
                        "proxy.users[0].scram_verifier: is not a SCRAM-SHA-256 verifier"),
                bad("duplicate proxy user", VALID + "proxy:\n  users:\n    - name: app\n      password: x\n    - name: app\n      password: y\n",
                        "proxy.users[1].name: duplicate user 'app'"),
                bad("proxy transport unknown", VALID + "proxy:\n  transport: kqueue\n",
                        "proxy.transport: must be auto, io_uring, epoll or nio, got 'kqueue'"),
                bad("proxy threads negative", VALID + "proxy:\n  threads: -1\n", "proxy.threads: must be 0-256, got -1"),
                bad("proxy backend_idle_max negative", VALID + "proxy:\n  backend_idle_max: -1\n",
                        "proxy.backend_idle_max: must be 0-10000, got -1"),
                bad("proxy backend_idle_timeout zero", VALID + "proxy:\n  backend_idle_timeout: 0s\n",
                        "proxy.backend_idle_timeout: must be greater than zero"),
                bad("misspelt proxy key", VALID + "proxy:\n  prot: 6432\n", "proxy.prot: unknown key; did you mean 'port'?"),
                bad("bad cluster name", VALID.replace("cluster_name: test", "cluster_name: my cluster!"), "cluster_name: must be letters"));
    }

    private static Arguments bad(String scenario, String yaml, String expected) {
        return Arguments.of(scenario, yaml, expected);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badInputs")
    void badInputIsRejectedWithItsPathAndAHint(String scenario, String yaml, String expected) {
        assertThatThrownBy(() -> parse(yaml)).isInstanceOf(ConfigException.class)
                .satisfies(e -> assertThat(e.getMessage()).contains(expected)
                        .doesNotContain("s3cret-password").doesNotContain("0123456789abcdef0123456789"));
    }

    @Test
    void everyFileInConfigsLoads() throws IOException {
        Path configs = Path.of("..", "configs");
        List<Path> files;
        try (Stream<Path> s = Files.list(configs)) {
            files = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
        }
        assertThat(files).hasSizeGreaterThanOrEqualTo(4);
        for (Path f : files) {
            MetakoConfig c = LOADER.load(f);
            assertThat(c.nodes()).as(f.toString()).isNotEmpty();
            assertThat(c.peers()).as(f.toString()).anyMatch(p -> p.id().equals(c.instance().id()));
        }
    }
}

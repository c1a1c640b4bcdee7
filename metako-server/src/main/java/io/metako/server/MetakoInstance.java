package io.metako.server;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import io.metako.proto.v1.ListMembersResponse;
import io.metako.proto.v1.Member;
import io.metako.proto.v1.MemberRole;
import io.metako.server.api.AdminException;
import io.metako.server.api.AdminServer;
import io.metako.server.api.StatusAssembler;
import io.metako.server.api.StatusReport;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.PeerConfig;
import io.metako.server.control.ControllerView;
import io.metako.server.control.FailoverController;
import io.metako.server.control.NodeOperations;
import io.metako.server.health.HealthMonitor;
import io.metako.server.routing.RoutingPublisher;
import io.metako.server.routing.RoutingTables;
import io.metako.server.state.MetakoStateMachine;
import io.metako.server.state.RaftNode;
import java.io.IOException;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.ratis.proto.RaftProtos.RaftPeerRole;
import org.apache.ratis.server.DivisionInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running metako instance: the composition root that wires the Raft peer, the health
 * monitor and the admin API from one configuration. The first leader of a fresh group seeds
 * the replicated state from its configuration; a seeded state is never seeded again.
 */
public final class MetakoInstance implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MetakoInstance.class);
    private static final long RESEND_NANOS = TimeUnit.SECONDS.toNanos(2);

    /** The configuration in force: the file's, with a reload's live changes (see {@link ConfigReload}). */
    private volatile MetakoConfig config;
    /** What every TLS port presents and Raft commands are signed with; null when no TLS is on. A reload renews it. */
    private final io.metako.server.tls.InstanceCertificate certificate;
    /** start() has finished: a reload before that is refused (what it would touch is not there yet). */
    private volatile boolean started;
    /** The file a reload reads again; null when the instance was built from a configuration alone. */
    private final java.nio.file.Path configFile;
    private final Clock clock;
    private final MetakoStateMachine stateMachine = new MetakoStateMachine();
    private final RaftNode raft;
    /** Who counts as a member of the Raft group, and members add / remove. */
    private final InstanceMembers members;
    private final HealthMonitor health;
    private final AdminServer admin;
    private final FailoverController controller;
    private final RoutingPublisher routing;
    private final io.metako.server.routing.LeaseKeeper lease;
    private io.metako.server.routing.ProxyPorts proxyPorts;
    /** The HTTP endpoints on instance.http_address; null when none is configured. */
    private io.metako.server.http.HttpServer http;
    private final io.metako.server.metrics.InstanceMetrics metrics;
    /** The replicated statement time limits, kept here so the router reads a field per statement. */
    private volatile io.metako.proxy.session.StatementLimits statementLimits = io.metako.proxy.session.StatementLimits.NONE;
    /** The Raft term at the control loop's last tick, for log lines (asking Ratis on every line costs too much). */
    private volatile long lastTerm;
    /** System.nanoTime() of the control loop's last tick: /liveness. */
    private volatile long lastTickNanos = System.nanoTime();
    private final ScheduledExecutorService control;
    /** Acknowledges a new epoch once this instance's proxy routes nothing under the old one. */
    private final io.metako.server.routing.EpochAcknowledger acknowledger;
    private final ScheduledExecutorService failover;
    /** The hands on the node this instance manages (instance.manages); null when it manages none. */
    private final io.metako.server.agent.NodeAgent agent;
    /** When the last seed went out: sent again after RESEND_NANOS (it is idempotent). */
    private volatile long seedSentAt;
    private final java.util.concurrent.atomic.AtomicBoolean controllerQueued = new java.util.concurrent.atomic.AtomicBoolean();

    public MetakoInstance(MetakoConfig config, Clock clock) throws IOException {
        this(config, null, clock);
    }

    /** {@code configFile}: where {@code config} was read from, read again by {@link #reload()} (SIGHUP). */
    public MetakoInstance(MetakoConfig config, java.nio.file.Path configFile, Clock clock) throws IOException {
        this(config, configFile, clock, false);
    }

    /**
     * {@code join}: on empty Raft storage, wait to be added to a running group ({@code metakoctl members add}) and
     * receive its state, instead of forming a group with the file's peers.
     */
    public MetakoInstance(MetakoConfig config, java.nio.file.Path configFile, Clock clock, boolean join)
            throws IOException {
        this.config = config;
        this.configFile = configFile;
        this.clock = clock;
        var tlsConfig = config.security();
        this.certificate = tlsConfig.tlsEnabled() || tlsConfig.apiTlsEnabled() || tlsConfig.raftTlsEnabled()
                || tlsConfig.httpTlsEnabled() ? io.metako.server.tls.InstanceCertificate.load(tlsConfig.certFile(),
                tlsConfig.keyFile()) : null;
        this.raft = new RaftNode(config, stateMachine, tlsConfig.raftTlsEnabled() ? certificate : null, join);
        this.members = new InstanceMembers(raft, stateMachine, () -> this.config, this::submit, this::leaseMillis, clock);
        this.health = new HealthMonitor(config.instance().id(), () -> this.config, stateMachine::state, this::submit, clock);
        var sec = config.security();
        this.admin = new AdminServer(config.instance().grpcAddress(), config.instance().authToken(),
                config.instance().readToken(), new InstanceAdmin(this, config.instance().id(), clock),
                sec.apiTlsEnabled() ? new AdminServer.Tls(certificate, sec.apiClientCa()) : null);
        this.controller = new FailoverController(config.instance().id(), new ControllerInputs(),
                new NodeOperations(() -> this.config), this::submit, clock);
        this.lease = new io.metako.server.routing.LeaseKeeper(raft::confirmEpoch, this::leaseMillis, config.instance().id(), raft::voter);
        // an instance out of the Raft configuration (removed, or joining) routes nothing: its state is not the group's;
        // one that knows a configuration without itself refuses at once (waiting would bring nothing)
        this.routing = new RoutingPublisher(() -> raft.voter() ? RoutingTables.of(stateMachine.state(),
                health.observations(), members.voters(), lease.lease()) : raft.outside()
                ? io.metako.proxy.routing.RoutingTable.closed("metako instance " + config.instance().id() + " is not in"
                + " the Raft group (removed, or not yet added): connect through another instance")
                : io.metako.proxy.routing.RoutingTable.unknown());
        this.acknowledger = new io.metako.server.routing.EpochAcknowledger(config.instance().id(), stateMachine::state,
                this::submit, clock, this::refreshRouting, () -> proxyPorts);
        this.control = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named(config.instance().id() + "/control-loop"));
        this.failover = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named(config.instance().id() + "/failover-controller"));
        this.metrics = new io.metako.server.metrics.InstanceMetrics(this::status,
                new io.metako.server.metrics.InstanceMetrics.RaftNumbers() {
                    @Override
                    public long commitIndex() {
                        try {
                            return raft.commitIndex();
                        } catch (IOException e) {
                            return 0;
                        }
                    }

                    @Override
                    public boolean isLeader() {
                        return raft.isLeader();
                    }
                });
        this.controller.onPromotion(metrics::promoted);
        this.health.setObserver(new HealthMonitor.Observer() {
            @Override
            public void probed(String node, double seconds, boolean reachable) {
                metrics.probed(node, seconds, reachable);
            }

            @Override
            public void verdictChanged(String node, io.metako.proto.v1.Verdict verdict) {
                metrics.verdictChanged(node, verdict);
            }
        });
        this.agent = config.instance().manages().isPresent()
                ? new io.metako.server.agent.NodeAgent(() -> this.config, stateMachine::state, this::submit, clock) : null;
    }

    /** The HTTP endpoints' window on this instance. */
    private final class HttpInputs implements io.metako.server.http.HttpServer.Backend {
        private final com.google.protobuf.util.JsonFormat.Printer json = com.google.protobuf.util.JsonFormat.printer()
                .preservingProtoFieldNames().alwaysPrintFieldsWithNoPresence();

        @Override
        public io.metako.server.http.HttpChecks.View view() {
            StatusAssembler.RaftView r = raftView();
            ClusterState s = stateMachine.state();
            return new io.metako.server.http.HttpChecks.View(config.instance().id(), r.selfRole(), r.leaderId(), r.term(),
                    s.getSeeded(), s.getEpoch(), routing.current(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastTickNanos));
        }

        @Override
        public String clusterJson() {
            return print(status());
        }

        @Override
        public String historyJson() {
            return print(io.metako.proto.v1.GetHistoryResponse.newBuilder()
                    .addAllEvents(stateMachine.state().getHistoryList()).build());
        }

        @Override
        public AutoCloseable onChange(Runnable listener) {
            return MetakoInstance.this.onChange(listener);
        }

        @Override
        public io.metako.server.http.HttpServer.Text metrics() {
            return new io.metako.server.http.HttpServer.Text(metrics.contentType(),
                    new String(metrics.scrape(), java.nio.charset.StandardCharsets.UTF_8));
        }

        private String print(com.google.protobuf.MessageOrBuilder m) {
            try {
                return json.print(m);
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** The tokens HTTP accepts: the admin token only over HTTPS (it can change the cluster; plain HTTP would show it). */
    private static List<io.metako.server.config.Secret> httpTokens(MetakoConfig c) {
        return c.security().httpTlsEnabled() ? List.of(c.instance().readToken(), c.instance().authToken())
                : List.of(c.instance().readToken());
    }

    /**
     * Reads the configuration file again (SIGHUP, {@code metakoctl reload}). The keys that can change live do (tokens,
     * the proxy's users, node credentials, the proxy's TLS certificate, the log level); an invalid file changes
     * nothing and says why; cluster-wide keys are never applied from a file (drift).
     */
    public synchronized io.metako.proto.v1.ReloadResponse reload() {
        String id = config.instance().id();
        var answer = io.metako.proto.v1.ReloadResponse.newBuilder().setInstance(id);
        if (configFile == null) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "instance " + id
                    + " was started without a configuration file to read again");
        }
        answer.setFile(configFile.toString());
        if (!started) {
            LOG.warn("reload ignored: instance {} is still starting; send it again once it has started", id);
            return answer.setReloaded(false).addProblems("the instance is still starting: reload it again once it"
                    + " has started").build();
        }
        MetakoConfig file;
        try {
            file = io.metako.server.config.ConfigLoader.withSystemEnv().load(configFile);
            if (!file.instance().id().equals(id)) {
                throw new io.metako.server.config.ConfigException(configFile.toString(), List.of("instance.id: is '"
                        + file.instance().id() + "' in the file, but this instance is '" + id + "'"));
            }
        } catch (io.metako.server.config.ConfigException e) {
            LOG.warn("reload refused, the running configuration stays: {}", e.getMessage());
            return answer.setReloaded(false).addAllProblems(e.problems()).build();
        }
        io.metako.server.config.ConfigReload plan = io.metako.server.config.ConfigReload.of(config, file);
        List<String> loginProblems = nodeLoginProblems(config, plan.config());
        MetakoConfig merged = plan.config();
        if (merged.http().tokenAuth() && !merged.instance().readToken().isPresent() && !merged.security().httpTlsEnabled()) {
            // http.auth: token stays until a restart, and plain HTTP accepts only the read token
            loginProblems.add("instance.read_token: http.auth is token on this running instance, and plain HTTP accepts"
                    + " only the read token: keep one (or restart with the new http settings)");
        }
        if (!loginProblems.isEmpty()) {
            LOG.warn("reload refused, the running configuration stays: {}", loginProblems);
            return answer.setReloaded(false).addAllProblems(loginProblems).build();
        }
        List<String> applied = new java.util.ArrayList<>(plan.applied());
        io.metako.server.tls.InstanceCertificate.Identity renewed = null;
        try {
            if (certificate != null) {
                var next = certificate.read(); // the files again: a renewed certificate
                if (!next.certificate().equals(certificate.certificate())) {
                    String refusal = raft.refusalOf(next.certificate());
                    if (refusal != null) {
                        throw new IOException("the other instances would refuse the certificate in "
                                + certificate.certFile() + " on the Raft links: " + refusal);
                    }
                    renewed = next;
                    applied.add("security.cert_file (a new certificate, valid until "
                            + next.certificate().getNotAfter().toInstant() + ")");
                }
            }
        } catch (IOException e) {
            LOG.warn("reload refused, the running configuration stays: {}", e.getMessage());
            return answer.setReloaded(false).addProblems(e.getMessage()).build();
        }
        try {
            if (proxyPorts != null) {
                proxyPorts.reload(plan.config());
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("reload refused, the running configuration stays: the proxy cannot use it: {}", e.getMessage());
            return answer.setReloaded(false).addProblems("proxy: " + e.getMessage()).build();
        }
        if (renewed != null) {
            certificate.use(renewed); // one key manager behind every TLS port: the next handshakes present it
        }
        config = plan.config();
        admin.tokens(config.instance().authToken(), config.instance().readToken());
        if (http != null) {
            http.tokens(httpTokens(config));
        }
        io.metako.server.logging.LogLevel.set(config.logging().level());
        List<String> drift = io.metako.server.config.ConfigDrift.of(config, stateMachine.state());
        LOG.atInfo().addKeyValue("applied", applied).addKeyValue("restart_needed", plan.restart())
                .addKeyValue("drift", drift).log("configuration reloaded from {}: {} applied, {} need a restart, {} differ"
                        + " from the cluster's", configFile, applied.size(), plan.restart().size(), drift.size());
        return answer.setReloaded(true).addAllApplied(applied).addAllRestartNeeded(plan.restart())
                .addAllDrift(drift).build();
    }

    /**
     * New node credentials are tried before they are used: a wrong password pushed to a majority of instances would
     * otherwise make their probes fail and fail over a healthy primary. A node of the cluster left out of the file
     * would be probed with no credentials at all: refused too.
     */
    private List<String> nodeLoginProblems(MetakoConfig running, MetakoConfig next) {
        List<String> problems = new java.util.ArrayList<>();
        NodeOperations trial = new NodeOperations(next);
        for (io.metako.proto.v1.Node n : stateMachine.state().getNodesList()) {
            var before = running.node(n.getName());
            var after = next.node(n.getName());
            if (before.isPresent() && after.isEmpty()) {
                problems.add("nodes." + n.getName() + ": the cluster has this node, and without its entry this instance"
                        + " could not log in to it (metakoctl node remove " + n.getName() + " first)");
            } else if (after.isPresent() && (before.isEmpty() || !before.get().username().equals(after.get().username())
                    || !before.get().password().equals(after.get().password())
                    || !before.get().database().equals(after.get().database()))) {
                String why = trial.loginRefusal(n);
                if (why != null) {
                    problems.add("nodes." + n.getName() + ": the node refuses the new login: " + why);
                }
            }
        }
        return problems;
    }

    private io.netty.handler.ssl.SslContext httpTls() throws IOException {
        var sec = config.security();
        return sec.httpTlsEnabled() ? io.metako.server.http.HttpServer.tls(certificate) : null;
    }

    /** The controller's window on this instance. */
    private final class ControllerInputs implements FailoverController.Inputs {
        @Override
        public ClusterState state() {
            return stateMachine.state();
        }

        @Override
        public java.util.Map<String, io.metako.proto.v1.NodeObservation> observations() {
            return health.observations();
        }

        @Override
        public List<String> members() {
            return members.voters();
        }

        @Override
        public List<String> acknowledgers() {
            return members.ids();
        }

        @Override
        public boolean isLeader() {
            return raft.isLeader();
        }

        @Override
        public long term() {
            return MetakoInstance.this.term();
        }

        @Override
        public java.util.Set<String> unresponsiveMembers() {
            // any message counts here (this is about being alive, not about the lease): 5 leases of nothing
            return raft.unresponsiveFollowers(5 * leaseMillis());
        }
    }

    public void start() throws IOException {
        // first of all listeners: a new epoch ends the lease of the old one before anything else acts on it
        stateMachine.addListener(s -> lease.enterEpoch(s.getEpoch()));
        // before Ratis replays anything: a restored snapshot's events and replayed ones are not counted again
        long startedMillis = clock.millis();
        metrics.baseline(stateMachine.state(), startedMillis);
        stateMachine.addListener(metrics::onState);
        stateMachine.addListener(this::refreshLimits);
        stateMachine.onConfigurationChanged(() -> {
            lease.membershipChanged(); // first: a removed instance's writes end here
            try {
                control.execute(() -> {
                    raft.refreshClients();
                    refreshRouting();
                });
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                // the instance is closing: nothing to refresh
            }
        });
        raft.start();
        refreshLimits(stateMachine.state()); // a state restored from a snapshot calls no listener
        lease.start();
        io.metako.server.logging.LogLevel.set(config.logging().level());
        admin.start();
        proxyPorts = io.metako.server.routing.ProxyPorts.open(config, routing, certificate);
        proxyPorts.router().observe(metrics.proxyObserver());
        // the replicated values, as every instance's router must agree on them (not this instance's file)
        proxyPorts.router().limits(() -> statementLimits);
        if (config.instance().httpAddress() != null) {
            http = new io.metako.server.http.HttpServer(config.instance().httpAddress(), config.http(),
                    httpTokens(config), httpTls(), new HttpInputs(), config.instance().id()).start();
        }
        health.start();
        control.scheduleWithFixedDelay(this::tick, 200, 200, TimeUnit.MILLISECONDS);
        control.scheduleWithFixedDelay(this::refreshRouting, 100, 100, TimeUnit.MILLISECONDS);
        failover.scheduleWithFixedDelay(this::controllerTick, 500, 200, TimeUnit.MILLISECONDS);
        long reportMillis = config.logging().statusInterval().toMillis();
        if (reportMillis > 0) {
            control.scheduleWithFixedDelay(this::statusReport, reportMillis, reportMillis, TimeUnit.MILLISECONDS);
        }
        stateMachine.addListener(s -> {
            try {
                control.execute(this::tick);
                control.execute(this::refreshRouting);
                // react to an applied change (an acknowledgement, a new epoch) without waiting for the next tick
                if (controllerQueued.compareAndSet(false, true)) {
                    failover.execute(this::controllerTick);
                }
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                return; // the instance is closing
            }
            if (agent != null) {
                agent.wake();
            }
            health.onState(s);
        });
        if (agent != null) {
            agent.start();
        }
        started = true;
        LOG.info("instance {} started: raft {}, admin API {}", config.instance().id(),
                config.instance().raftAddress(), config.instance().grpcAddress());
    }

    public CompletableFuture<CommandResult> submit(Command command) {
        if (raft.outside()) {
            // out of a configuration it knows: its verdicts and acknowledgements would be a stranger's
            return CompletableFuture.failedFuture(new IOException("instance " + config.instance().id()
                    + " is not in the Raft group's configuration"));
        }
        return raft.submit(command);
    }

    /** members add / remove (the admin API). */
    InstanceMembers membership() {
        return members;
    }

    public RaftNode raft() {
        return raft;
    }

    public FailoverController controller() {
        return controller;
    }

    public ClusterState state() {
        return stateMachine.state();
    }

    /**
     * One control-loop tick: seed a fresh group if this instance leads it, and acknowledge a new
     * epoch once this instance has applied it ({@link io.metako.server.routing.EpochAcknowledger}).
     */
    private void tick() {
        lastTickNanos = System.nanoTime();
        lastTerm = term();
        try {
            ClusterState s = stateMachine.state();
            long now = System.nanoTime();
            if (!s.getSeeded() && raft.isLeader() && now - seedSentAt > RESEND_NANOS) {
                seedSentAt = now;
                seed(s);
            }
            acknowledger.tick();
            members.tick(raft.isLeader(), lastTerm);
        } catch (RuntimeException e) {
            LOG.warn("control tick failed: {}", e.toString());
        }
    }

    private void refreshLimits(ClusterState s) {
        var lb = s.getSettings().getLoadBalancer();
        statementLimits = new io.metako.proxy.session.StatementLimits(lb.getStatementReadTimeoutMillis(),
                lb.getStatementWriteTimeoutMillis());
    }

    /** The periodic status report: one log line (logging.status_interval). */
    private void statusReport() {
        try {
            StatusReport.Line line = StatusReport.of(status());
            var event = LOG.atInfo();
            for (var f : line.fields().entrySet()) {
                event = event.addKeyValue(f.getKey(), f.getValue());
            }
            event.log(line.message());
        } catch (RuntimeException e) {
            LOG.warn("status report failed: {}", e.toString());
        }
    }

    /** What every log line of this process carries (the JSON layout): the instance, its epoch and Raft term. */
    public java.util.Map<String, String> logContext() {
        return java.util.Map.of("instance", config.instance().id(), "epoch",
                Long.toString(stateMachine.state().getEpoch()), "term", Long.toString(lastTerm));
    }

    private long leaseMillis() {
        long lease = stateMachine.state().getSettings().getFailover().getLeaseMillis();
        return lease > 0 ? lease : config.failover().lease().toMillis();
    }

    private void refreshRouting() {
        try {
            routing.refresh();
        } catch (RuntimeException e) {
            LOG.warn("routing refresh failed: {}", e.toString());
        }
    }

    /** The routing table this instance's proxy follows. */
    public RoutingPublisher routing() {
        return routing;
    }

    /** The statement router on proxy.port. */
    public io.metako.proxy.session.StatementRouter statementRouter() {
        return proxyPorts.router();
    }

    private void controllerTick() {
        controllerQueued.set(false);
        try {
            controller.tick();
        } catch (RuntimeException e) {
            LOG.warn("controller tick failed: {}", e.toString());
        }
    }

    private void seed(ClusterState s) {
        Command cmd = Command.newBuilder().setEpoch(s.getEpoch()).setTimeMillis(clock.millis())
                .setProposer(config.instance().id()).setSeed(SeedFactory.seedOf(config)).build();
        submit(cmd).whenComplete((r, e) -> {
            seedSentAt = 0;
            if (e != null) {
                LOG.warn("seeding the cluster failed: {}", e.toString());
            } else if (r.getApplied()) {
                LOG.info("cluster '{}' seeded from {} with {} nodes (epoch {})", config.clusterName(),
                        config.instance().id(), config.nodes().size(), r.getEpoch());
            }
        });
    }

    private long term() {
        try {
            return raft.info().getCurrentTerm();
        } catch (IOException e) {
            return 0;
        }
    }

    public ClusterStatus status() {
        String sentence = raft.removed() ? "removed from the Raft group: this instance routes nothing and counts in"
                + " nothing; stop it" : !raft.voter() && raft.started()
                ? "not in the Raft group: waiting to be added (metakoctl members add " + config.instance().id() + " "
                + config.instance().raftAddress() + " " + config.instance().grpcAddress() + "), or removed before"
                + " this start; it routes nothing"
                : raft.leaderId().isPresent() ? controller.sentence() : "waiting: no Raft leader known to this instance";
        ClusterStatus.Builder b = StatusAssembler.assemble(stateMachine.state(), raftView(), health.observations(), sentence)
                .toBuilder().setHoldsLease(routing.current().writableNow())
                .addAllConfigDrift(io.metako.server.config.ConfigDrift.of(config, stateMachine.state()));
        io.metako.server.routing.ProxyPorts ports = proxyPorts;
        if (ports != null) {
            b.setProxy(metrics.withStatements(StatusAssembler.proxy(ports.router().openSessions(),
                    ports.router().backendConnections())));
        }
        return b.build();
    }

    public ListMembersResponse members() {
        StatusAssembler.RaftView view = raftView();
        return ListMembersResponse.newBuilder().setAnsweredBy(view.selfId())
                .setLeaderId(view.leaderId() == null ? "" : view.leaderId())
                .setTerm(view.term()).addAllMembers(StatusAssembler.members(view)).build();
    }

    /** The controller's view for an operator's request: this instance's state, observations and members now. */
    ControllerView operatorView() {
        ControllerInputs in = new ControllerInputs();
        return new ControllerView(in.state(), in.observations(), in.members(), java.util.Set.of(), clock.millis());
    }

    public AutoCloseable onChange(Runnable listener) {
        Consumer<ClusterState> l = s -> listener.run();
        stateMachine.addListener(l);
        return () -> stateMachine.removeListener(l);
    }

    private StatusAssembler.RaftView raftView() {
        List<Member> peers = members.view();
        try {
            DivisionInfo info = raft.info();
            String leader = info.getLeaderId() == null ? null : info.getLeaderId().toString();
            return new StatusAssembler.RaftView(config.instance().id(), leader, info.getCurrentTerm(),
                    info.getLastAppliedIndex(), roleOf(info.getCurrentRole()), peers);
        } catch (IOException e) {
            return new StatusAssembler.RaftView(config.instance().id(), null, 0, 0, MemberRole.UNKNOWN_ROLE, peers);
        }
    }

    private static MemberRole roleOf(RaftPeerRole role) {
        return switch (role) {
            case LEADER -> MemberRole.LEADER;
            case FOLLOWER -> MemberRole.FOLLOWER;
            case CANDIDATE -> MemberRole.CANDIDATE_MEMBER;
            default -> MemberRole.UNKNOWN_ROLE;
        };
    }

    @Override
    public void close() {
        started = false; // a reload from now on touches nothing that is closing
        if (agent != null) {
            agent.close();
        }
        control.shutdownNow();
        lease.close();
        failover.shutdownNow();
        if (proxyPorts != null) {
            proxyPorts.close();
        }
        if (http != null) {
            http.close();
        }
        health.close();
        try {
            admin.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            raft.close();
        } catch (IOException e) {
            LOG.warn("closing the Raft peer: {}", e.toString());
        }
        LOG.info("instance {} stopped", config.instance().id());
    }
}

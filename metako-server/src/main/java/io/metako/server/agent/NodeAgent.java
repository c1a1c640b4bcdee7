package io.metako.server.agent;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRejoin;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.RejoinFinished;
import io.metako.proto.v1.SetNodeManager;
import io.metako.server.DaemonThreads;
import io.metako.server.config.HostPort;
import io.metako.server.config.ManagedNode;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.NodeConfig;
import io.metako.server.pg.LocalPostgres;
import io.metako.server.pg.OsCommand;
import io.metako.server.pg.PgBinaries;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The managing instance's hands on its node's files ({@code instance.manages}): it records itself as the node's
 * manager, and carries out the rejoin the log starts for that node: stop it, pg_rewind it from the primary (or
 * clone it afresh), write {@code standby.signal} and {@code primary_conninfo}, start it as a replica, and report
 * in the log. Nothing else here touches a node. A marker file beside the data directory says a rewind or clone is
 * under way: while it is there the data directory may be half-written, and this agent never starts the node; an
 * instance killed in the middle resumes the attempt when it comes back (the log still shows it running).
 */
public final class NodeAgent implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NodeAgent.class);
    private static final long REGISTER_EVERY_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** pg_rewind and pg_basebackup of a large node take long: bounded only against a hang. */
    static final java.time.Duration REJOIN_STEP_TIMEOUT = java.time.Duration.ofHours(6);

    private final String instanceId;
    private final Supplier<MetakoConfig> config;
    private final ManagedNode managed;
    private final LocalPostgres pg;
    private final OsCommand os;
    private final Supplier<ClusterState> state;
    private final Function<Command, CompletableFuture<CommandResult>> submit;
    private final Clock clock;
    private final io.metako.server.control.NodeOperations operations;
    private final ScheduledExecutorService worker;
    /** Runs the source's CHECKPOINT while the worker stops the node. */
    private final java.util.concurrent.ExecutorService helper;
    private final AtomicBoolean queued = new AtomicBoolean();
    private volatile long registeredAt;
    private volatile String refusal = "";
    /** The last attempt this process carried out, by "epoch/attempt": never twice in one process life. */
    private volatile String done = "";
    private volatile boolean closing;
    /** A RejoinFinished the log never answered: sent again while the log still shows its attempt running. */
    private volatile Command unreported;

    public NodeAgent(MetakoConfig config, Supplier<ClusterState> state,
                     Function<Command, CompletableFuture<CommandResult>> submit, Clock clock) {
        this(() -> config, state, submit, clock);
    }

    /** {@code live}: the instance's configuration as reloads leave it (node credentials, replication.passfile). */
    public NodeAgent(Supplier<MetakoConfig> live, Supplier<ClusterState> state,
                     Function<Command, CompletableFuture<CommandResult>> submit, Clock clock) {
        MetakoConfig config = live.get();
        this.instanceId = config.instance().id();
        this.config = live;
        this.managed = config.instance().manages().orElseThrow();
        this.state = state;
        this.submit = submit;
        this.clock = clock;
        this.operations = new io.metako.server.control.NodeOperations(live);
        NodeConfig node = config.node(managed.node()).orElseThrow();
        PgBinaries bin = managed.binDir().map(PgBinaries::at).orElseGet(() -> PgBinaries.locate(System.getenv()));
        this.os = new OsCommand(managed.osUser());
        this.pg = LocalPostgres.atDataDir(bin, os, node.name(), managed.dataDir(), node.host(), node.port());
        this.worker = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named(instanceId + "/node-agent"));
        this.helper = Executors.newSingleThreadExecutor(DaemonThreads.named(instanceId + "/node-agent-checkpoint"));
    }

    public void start() {
        if (Files.exists(marker())) {
            LOG.warn("a rejoin of {} was interrupted (marker {}): its data directory may be half-written; it stays"
                    + " stopped until the next attempt", managed.node(), marker());
        }
        worker.scheduleWithFixedDelay(this::check, 500, 1000, TimeUnit.MILLISECONDS);
    }

    /** A state change: look again soon (coalesced). */
    public void wake() {
        if (queued.compareAndSet(false, true)) {
            worker.execute(this::check);
        }
    }

    /** The marker that says a rewind or clone of the data directory is under way. */
    Path marker() {
        return rejoinMarker(pg.nodeDir(), pg.dataDir());
    }

    /** The rejoin marker of the node whose data directory is {@code dataDir} (in {@code nodeDir}). */
    public static Path rejoinMarker(Path nodeDir, Path dataDir) {
        return nodeDir.resolve(dataDir.getFileName() + ".metako-rejoin");
    }

    private void check() {
        queued.set(false);
        try {
            ClusterState s = state.get();
            if (!s.getSeeded()) {
                return;
            }
            Optional<Node> node = io.metako.server.state.Nodes.named(s, managed.node());
            if (node.isEmpty()) {
                return;
            }
            if (!node.get().getManagingInstance().equals(instanceId)) {
                register(s, node.get());
                return;
            }
            NodeRejoin r = node.get().getRejoin();
            boolean running = node.get().getRole() == NodeRole.QUARANTINED && r.getAttempt() > 0
                    && r.getEpoch() == s.getEpoch() && r.getFinishedMillis() == 0;
            // the start time too: a node removed and added again in one epoch counts its attempts from 1 again
            String key = r.getEpoch() + "/" + r.getAttempt() + "/" + r.getStartedMillis();
            if (running && !key.equals(done)) {
                done = key;
                unreported = null;
                rejoin(s, r);
            } else if (running && unreported != null) {
                Command again = unreported;
                unreported = null;
                LOG.info("reporting the end of the rejoin of {} (attempt {}) again", managed.node(), r.getAttempt());
                send(again, r.getAttempt());
            }
        } catch (RuntimeException e) {
            LOG.warn("node agent for {}: {}", managed.node(), e.toString());
        }
    }

    private void register(ClusterState s, Node node) {
        long now = System.nanoTime();
        if (registeredAt != 0 && now - registeredAt < REGISTER_EVERY_NANOS) {
            return;
        }
        registeredAt = now;
        Command c = Command.newBuilder().setEpoch(s.getEpoch()).setTimeMillis(clock.millis()).setProposer(instanceId)
                .setSetNodeManager(SetNodeManager.newBuilder().setNode(node.getName())).build();
        submit.apply(c).whenComplete((r, e) -> {
            if (e == null && r.getApplied()) {
                LOG.info("{} manages node {} (instance.manages)", instanceId, node.getName());
            } else {
                String why = e != null ? e.toString() : r.getRejection();
                if (!why.equals(refusal)) {
                    LOG.warn("could not record {} as the manager of {}: {}", instanceId, node.getName(), why);
                }
                refusal = why;
            }
        });
    }

    /** Carries out attempt {@code r} and reports it in the log; never throws. */
    private void rejoin(ClusterState s, NodeRejoin r) {
        String what = "rejoin of " + managed.node() + " to " + r.getSource() + " (attempt " + r.getAttempt() + ", "
                + r.getMethod() + ")";
        LOG.info("{}: starting on {}", what, instanceId);
        long started = System.nanoTime();
        String doneBy;
        long postmasterStart;
        try {
            doneBy = carryOut(s, r, what);
            postmasterStart = postmasterStart(s);
        } catch (IOException | java.sql.SQLException | RuntimeException e) {
            if (closing || Thread.currentThread().isInterrupted()) {
                // not a failure of the attempt: the log still shows it running, and this instance resumes it when back
                LOG.warn("{}: interrupted by this instance's shutdown; it resumes when the instance is back", what);
                return;
            }
            String why = firstLines(e);
            LOG.warn("{} failed: {}", what, why);
            report(s, r, why, "", 0);
            return;
        }
        LOG.info("{}: {} started as a replica by {} in {} ms", what, managed.node(), doneBy,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        report(s, r, "", doneBy, postmasterStart);
    }

    /**
     * When the node's postmaster started, as the node has it: the leader completes the rejoin only on a probe that
     * reports this start (a probe from before the restart may still say "streaming"), whatever the clocks' skew.
     */
    private long postmasterStart(ClusterState s) throws java.sql.SQLException {
        Node self = io.metako.server.state.Nodes.named(s, managed.node()).orElseThrow();
        java.sql.SQLException last = null;
        for (int i = 0; i < 20; i++) { // pg_ctl -w returns once it accepts connections; a few more tries for safety
            try {
                return operations.postmasterStartMicros(self);
            } catch (java.sql.SQLException e) {
                last = e;
                try {
                    Thread.sleep(250);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
        throw last;
    }

    private String carryOut(ClusterState s, NodeRejoin r, String what) throws IOException {
        Node source = io.metako.server.state.Nodes.named(s, r.getSource())
                .orElseThrow(() -> new IllegalStateException("the source " + r.getSource() + " is not a node"));
        // the cluster-wide address, as every re-pointed replica has it: the leader knows the node has rejoined by
        // seeing its WAL receiver stream from exactly that address
        HostPort address = new HostPort(source.getHost(), source.getPort());
        String user = config.get().node(source.getName()).map(NodeConfig::username).orElse("postgres");
        Path passfile = passfile(source.getName(), user);
        boolean halfWritten = Files.exists(marker());
        boolean rewind = !r.getMethod().equals("clone") && !halfWritten;
        boolean clone = !r.getMethod().equals("rewind");
        if (halfWritten && !clone) {
            throw new IllegalStateException("an earlier rewind or clone of " + managed.node() + " did not finish (" + marker()
                    + "): its data directory may be half-written and pg_rewind cannot repair that; metakoctl reinit "
                    + managed.node() + " clones it afresh");
        }
        // the source's control file names its new timeline only from a checkpoint after the promotion: asked for
        // while the node stops
        CompletableFuture<Void> checkpoint = !rewind ? CompletableFuture.completedFuture(null)
                : CompletableFuture.runAsync(() -> {
                    try {
                        long t0 = System.nanoTime();
                        operations.checkpoint(source);
                        LOG.info("{}: CHECKPOINT on {} took {} ms", what, source.getName(),
                                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
                    } catch (java.sql.SQLException e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                }, helper);
        // a pg_rewind or pg_basebackup an earlier life of this instance started may still be writing
        int leftovers = pg.killLeftoverTools();
        if (leftovers > 0) {
            LOG.warn("{}: ended {} pg_rewind / pg_basebackup process(es) an earlier attempt left running", what, leftovers);
        }
        LOG.info("{}: stopping {}", what, managed.node());
        try {
            pg.stop(LocalPostgres.StopMode.FAST);
        } catch (IOException e) {
            LOG.warn("{}: a fast stop failed ({}); stopping it at once", what, firstLines(e));
            try {
                pg.stop(LocalPostgres.StopMode.IMMEDIATE);
            } catch (IOException again) {
                LOG.warn("{}: an immediate stop failed too ({}); killing it", what, firstLines(again));
            }
        }
        if (pg.status() == LocalPostgres.Status.RUNNING) {
            pg.kill();
        }
        LOG.info("{}: {} stopped", what, managed.node());
        if (!pg.awaitOrphansGone(java.time.Duration.ofSeconds(30))) {
            throw new IllegalStateException("processes of the old " + managed.node() + " server are still running 30 s"
                    + " after it stopped: its files are not rewritten under them");
        }
        String doneBy = null;
        if (rewind && pg.status() == LocalPostgres.Status.STOPPED) {
            try {
                checkpoint.get(2, TimeUnit.MINUTES);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                Exception cause = e.getCause() instanceof Exception c ? c : e;
                throw new IOException("CHECKPOINT on " + source.getName() + " before pg_rewind failed: " + firstLines(cause), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the CHECKPOINT on " + source.getName(), e);
            }
            LOG.info("{}: pg_rewind from {}", what, address);
            // from here the data directory is rewritten in place: until pg_rewind is through, it may not start
            Files.writeString(marker(), what + "\n", StandardCharsets.UTF_8);
            try {
                String out = pg.rewind(address.host(), address.port(), user, passfile, REJOIN_STEP_TIMEOUT);
                LOG.info("{}: {}", what, out.lines().filter(l -> l.startsWith("pg_rewind: ") && !l.contains("executing"))
                        .reduce((a, b) -> a + " / " + b).orElse("pg_rewind printed nothing"));
                doneBy = "pg_rewind";
                Files.delete(marker());
            } catch (IOException e) {
                if (!clone || closing || Thread.currentThread().isInterrupted()) {
                    throw e; // the marker stays: the next attempt clones, or says to
                }
                LOG.warn("{}: pg_rewind failed ({}); making a fresh clone instead", what, firstLines(e));
            }
        } else if (rewind && !clone) {
            throw new IllegalStateException(pg.status() == LocalPostgres.Status.RUNNING
                    ? managed.node() + " could not be stopped: pg_rewind needs it stopped"
                    : managed.node() + " has no data directory at " + pg.dataDir() + ": pg_rewind needs one; metakoctl"
                            + " reinit " + managed.node() + " clones it afresh");
        }
        if (doneBy == null) {
            LOG.info("{}: pg_basebackup from {} (a fresh clone{})", what, address,
                    halfWritten ? ", since an earlier rewind or clone did not finish" : "");
            // the old directory stays whole until the swap; the marker covers the swap and what a crash leaves
            Files.writeString(marker(), what + "\n", StandardCharsets.UTF_8);
            pg.reclone(address.host(), address.port(), user, passfile, REJOIN_STEP_TIMEOUT);
            doneBy = "a fresh clone";
            Files.delete(marker());
        }
        LOG.info("{}: starting {} as a replica", what, managed.node());
        pg.start();
        return doneBy;
    }

    /**
     * The libpq password file replication and pg_rewind log in with: {@code replication.passfile} when set (it
     * must exist on this host), else one this agent writes beside the data directory from the configured password.
     */
    private Path passfile(String sourceNode, String user) throws IOException {
        Optional<String> configured = config.get().replication().passfile();
        if (configured.isPresent()) {
            return Path.of(configured.get());
        }
        Path file = pg.nodeDir().resolve("metako-replication.pgpass");
        var password = config.get().node(sourceNode).map(NodeConfig::password).orElseThrow();
        LocalPostgres.writePassfile(os, file, user, password.isPresent() ? password.reveal() : "");
        return file;
    }

    private void report(ClusterState s, NodeRejoin r, String error, String doneBy, long postmasterStart) {
        Command c = Command.newBuilder().setEpoch(r.getEpoch()).setTimeMillis(clock.millis()).setProposer(instanceId)
                .setRejoinFinished(RejoinFinished.newBuilder().setNode(managed.node()).setAttempt(r.getAttempt())
                        .setStartedMillis(r.getStartedMillis())
                        .setError(error).setDoneBy(doneBy).setPostmasterStartMicros(postmasterStart)).build();
        send(c, r.getAttempt());
    }

    private void send(Command c, long attempt) {
        for (int i = 0; i < 3; i++) {
            try {
                CommandResult result = submit.apply(c).get(10, TimeUnit.SECONDS);
                if (!result.getApplied()) {
                    LOG.info("rejoin of {} (attempt {}) not recorded as finished: {}", managed.node(), attempt,
                            result.getRejection());
                    // the leader may have checked it against a state behind its log (a new leader): sent again
                    // while the log still shows the attempt running
                    unreported = c;
                }
                return;
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                LOG.info("reporting the rejoin of {} failed ({}); trying again", managed.node(), e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        unreported = c; // the next check sends it again while the attempt still runs in the log
    }

    /** The first lines of {@code e}'s message, at most 400 characters: it goes into the replicated state. */
    private static String firstLines(Exception e) {
        return io.metako.server.logging.Failures.firstLines(e, 3, 400);
    }

    @Override
    public void close() {
        closing = true;
        worker.shutdownNow();
        helper.shutdownNow();
    }
}

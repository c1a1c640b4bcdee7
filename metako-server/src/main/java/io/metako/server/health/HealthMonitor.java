package io.metako.server.health;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import io.metako.proto.v1.HealthCheckSettings;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.ReportVerdict;
import io.metako.proto.v1.Verdict;
import io.metako.server.DaemonThreads;
import io.metako.server.config.HostPort;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.NodeConfig;
import io.metako.server.config.Secret;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This instance's view of every node's health. Each node gets its own probe loop on the
 * replicated {@code health_check} interval; only transitions of this instance's verdict go
 * through the Raft log, and a verdict that the log does not hold yet is re-sent until it does.
 */
public final class HealthMonitor implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HealthMonitor.class);
    /** A report without an answer after this long is sent again (verdicts are idempotent). */
    private static final long RESEND_NANOS = TimeUnit.SECONDS.toNanos(2);

    private final String instanceId;
    /** The instance's configuration: node credentials and TLS settings change with a reload. */
    private final Supplier<MetakoConfig> config;
    private final Supplier<ClusterState> state;
    private final Function<Command, CompletableFuture<CommandResult>> submit;
    private final Clock clock;
    private final ScheduledExecutorService reconciler;
    /** Changed under this monitor's lock (reconcile, close); read without it (onState runs on Ratis' apply thread). */
    private final Map<String, NodeLoop> loops = new ConcurrentHashMap<>();
    private final Map<String, NodeObservation> observations = new ConcurrentHashMap<>();

    public HealthMonitor(String instanceId, MetakoConfig config, Supplier<ClusterState> state,
                         Function<Command, CompletableFuture<CommandResult>> submit, Clock clock) {
        this(instanceId, () -> config, state, submit, clock);
    }

    public HealthMonitor(String instanceId, Supplier<MetakoConfig> config, Supplier<ClusterState> state,
                         Function<Command, CompletableFuture<CommandResult>> submit, Clock clock) {
        this.instanceId = instanceId;
        this.config = config;
        this.state = state;
        this.submit = submit;
        this.clock = clock;
        this.reconciler = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named(instanceId + "/health"));
    }

    public void start() {
        reconciler.scheduleWithFixedDelay(this::reconcile, 0, 500, TimeUnit.MILLISECONDS);
    }

    /** What this instance's probes and verdicts are reported to besides the log (its metrics). */
    public interface Observer {
        void probed(String node, double seconds, boolean reachable);

        void verdictChanged(String node, Verdict verdict);
    }

    private volatile Observer observer = new Observer() {
        @Override
        public void probed(String node, double seconds, boolean reachable) {
        }

        @Override
        public void verdictChanged(String node, Verdict verdict) {
        }
    };

    public void setObserver(Observer observer) {
        this.observer = observer;
    }

    /** Per node, the last rejoin attempt probed at once ({@code epoch/attempt}). */
    private final Map<String, String> rejoinsProbed = new ConcurrentHashMap<>();

    /**
     * A state change: a node whose managing instance just restarted it as a replica is probed at once and twice
     * more within half a second, rather than at the next interval, so the leader sees it stream (and completes the
     * rejoin) as soon as it does.
     */
    public void onState(ClusterState s) {
        String primary = s.getPrimary();
        if (!primary.isEmpty() && !primary.equals(lastPrimary)) {
            // a new primary: the leader starts the old one's rejoin on a probe that sees it take writes
            lastPrimary = primary;
            probeSoon(primary, 0);
        }
        for (Node n : s.getNodesList()) {
            io.metako.proto.v1.NodeRejoin r = n.getRejoin();
            if (r.getAttempt() == 0 || r.getFinishedMillis() == 0 || !r.getError().isEmpty() || r.getEpoch() != s.getEpoch()) {
                continue;
            }
            String attempt = r.getEpoch() + "/" + r.getAttempt();
            if (!attempt.equals(rejoinsProbed.put(n.getName(), attempt))) {
                probeSoon(n.getName(), 0, 150, 400);
            }
        }
    }

    private volatile String lastPrimary = "";

    private void probeSoon(String node, long... delaysMillis) {
        NodeLoop loop = loops.get(node);
        if (loop != null) {
            loop.probeSoon(delaysMillis);
        }
    }

    /** The latest observation of each node by this instance. */
    public Map<String, NodeObservation> observations() {
        return Map.copyOf(observations);
    }

    private synchronized void reconcile() {
        try {
            ClusterState s = state.get();
            if (!s.getSeeded()) {
                return;
            }
            HealthCheckSettings hc = s.getSettings().getHealthCheck();
            Map<String, Node> wanted = new HashMap<>();
            s.getNodesList().forEach(n -> wanted.put(n.getName(), n));
            loops.entrySet().removeIf(e -> {
                NodeLoop loop = e.getValue();
                Node n = wanted.get(e.getKey());
                boolean keep = n != null && loop.matches(n, hc);
                if (!keep) {
                    loop.close();
                    // new health-check settings only: what the last probe saw still holds until the next one (at
                    // once), so routing does not lose the node meanwhile; a node gone or moved loses it
                    if (n == null || !loop.sameAddress(n)) {
                        observations.remove(e.getKey());
                    }
                }
                return !keep;
            });
            for (Node n : wanted.values()) {
                loops.computeIfAbsent(n.getName(), k -> new NodeLoop(n, hc)).retarget(targetFor(n));
            }
        } catch (RuntimeException e) {
            LOG.warn("health reconcile failed: {}", e.toString());
        }
    }

    private ProbeTarget targetFor(Node n) {
        MetakoConfig config = this.config.get();
        NodeConfig local = config.node(n.getName()).orElse(null);
        String user = local == null ? "postgres" : local.username();
        Secret password = local == null ? Secret.none() : local.password();
        String db = local != null ? local.database() : n.getDatabase().isEmpty() ? "postgres" : n.getDatabase();
        HostPort address = config.nodeAddressOverride(n.getName()).orElse(new HostPort(n.getHost(), n.getPort()));
        return new ProbeTarget(n.getName(), address.host(), address.port(), db, user, password,
                config.security().jdbcProperties());
    }

    /** One node's probe loop: its prober, its verdict counter, its report in flight. */
    private final class NodeLoop {
        private final Node node;
        private final HealthCheckSettings settings;
        /** Replaced when the target's credentials change (a reload): the loop, its counts and observation go on. */
        private volatile NodeProber prober;
        private ProbeTarget target; // the reconciler's (under the monitor's lock)
        private final VerdictCounter counter = new VerdictCounter();
        private final ScheduledExecutorService loop;
        private volatile long reportSentAt; // System.nanoTime() of the report in flight, 0 when none
        /** The last probe that answered, and when (System.nanoTime()): what a failed probe still knows. */
        private NodeObservation lastAnswer;
        private long lastAnswerNanos;

        NodeLoop(Node node, HealthCheckSettings settings) {
            this.node = node;
            this.settings = settings;
            this.target = targetFor(node);
            this.prober = new NodeProber(target);
            this.loop = Executors.newSingleThreadScheduledExecutor(DaemonThreads.named(instanceId + "/health-" + node.getName()));
            loop.scheduleAtFixedRate(this::tick, 0, Math.max(50, settings.getIntervalMillis()), TimeUnit.MILLISECONDS);
        }

        /**
         * A failed probe keeps what the last answer said: WAL positions and timeline (so the controller still knows how
         * far a vanished primary had got when it bounds the loss of a failover), and, for a replica, whom it
         * streamed from and how long ago it last heard from it, aged by the time since that answer (on this
         * process's monotonic clock). So one probe lost on a busy host does not make a replica's proof that the
         * primary lives vanish; the proof expires on its own as it ages.
         */
        private NodeObservation withLastKnownPosition(NodeObservation now, NodeObservation before) {
            if (now.getReachable() || before == null) {
                return now;
            }
            NodeObservation.Builder b = now.toBuilder().setCurrentLsn(before.getCurrentLsn()).setReceiveLsn(before.getReceiveLsn())
                    .setReplayLsn(before.getReplayLsn()).setTimeline(before.getTimeline())
                    .setInRecovery(before.getInRecovery());
            NodeObservation last = lastAnswer;
            if (last != null && last.getInRecovery() && last.getReceiverLastMessageAgeMillis() >= 0) {
                long since = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastAnswerNanos);
                b.setUpstreamHost(last.getUpstreamHost()).setUpstreamPort(last.getUpstreamPort())
                        .setWalReceiverStatus(last.getWalReceiverStatus())
                        .setReceiverLastMessageAgeMillis(last.getReceiverLastMessageAgeMillis() + since);
            }
            return b.build();
        }

        /**
         * Extra probes after {@code delaysMillis}, on this loop's thread (so never two at once). They refresh the
         * observation only: the verdict counts the regular probes alone, so failure and recovery thresholds keep
         * meaning "for that many intervals".
         */
        void probeSoon(long... delaysMillis) {
            for (long d : delaysMillis) {
                try {
                    loop.schedule(this::extraProbe, d, TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    return; // closing
                }
            }
        }

        /** Probes {@code t} from the next probe on, if it differs from the current target. */
        void retarget(ProbeTarget t) {
            if (t.equals(target)) {
                return;
            }
            target = t;
            try {
                loop.execute(() -> { // between two probes, on the loop's own thread
                    NodeProber old = prober;
                    prober = new NodeProber(t);
                    old.close();
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // closing
            }
        }

        boolean matches(Node n, HealthCheckSettings hc) {
            return sameAddress(n) && hc.equals(settings);
        }

        boolean sameAddress(Node n) {
            return n.getHost().equals(node.getHost()) && n.getPort() == node.getPort();
        }

        private void tick() {
            try {
                long started = System.nanoTime();
                NodeObservation obs = prober.probe(Duration.ofMillis(settings.getTimeoutMillis()), clock.millis());
                observer.probed(node.getName(), (System.nanoTime() - started) / 1e9, obs.getReachable());
                Verdict before = counter.verdict();
                Verdict now = counter.record(obs.getReachable(), settings.getFailureThreshold(),
                        settings.getRecoveryThreshold());
                if (obs.getReachable()) {
                    lastAnswer = obs;
                    lastAnswerNanos = System.nanoTime();
                }
                observations.put(node.getName(), withLastKnownPosition(obs, observations.get(node.getName()))
                        .toBuilder().setConsecutiveFailures(counter.consecutiveFailures()).build());
                if (now != before) {
                    observer.verdictChanged(node.getName(), now);
                    LOG.info("node {} is {} for {}{}", node.getName(), now, instanceId,
                            obs.getReachable() ? "" : " (" + obs.getError() + ")");
                }
                reportIfNeeded(now);
            } catch (RuntimeException e) {
                LOG.warn("probe of {} failed unexpectedly: {}", node.getName(), e.toString());
            }
        }

        private void extraProbe() {
            try {
                NodeObservation obs = prober.probe(Duration.ofMillis(settings.getTimeoutMillis()), clock.millis());
                if (obs.getReachable()) {
                    lastAnswer = obs;
                    lastAnswerNanos = System.nanoTime();
                    observations.put(node.getName(), obs.toBuilder().setConsecutiveFailures(counter.consecutiveFailures())
                            .build());
                }
            } catch (RuntimeException e) {
                LOG.warn("extra probe of {} failed unexpectedly: {}", node.getName(), e.toString());
            }
        }

        private void reportIfNeeded(Verdict local) {
            if (local == Verdict.VERDICT_UNSPECIFIED
                    || (reportSentAt != 0 && System.nanoTime() - reportSentAt < RESEND_NANOS)) {
                return;
            }
            ClusterState s = state.get();
            Verdict replicated = s.getVerdictsList().stream()
                    .filter(v -> v.getInstanceId().equals(instanceId) && v.getNode().equals(node.getName()))
                    .map(v -> v.getVerdict()).findFirst().orElse(Verdict.VERDICT_UNSPECIFIED);
            if (replicated == local) {
                return;
            }
            reportSentAt = System.nanoTime();
            Command cmd = Command.newBuilder().setEpoch(s.getEpoch()).setTimeMillis(clock.millis()).setProposer(instanceId)
                    .setReportVerdict(ReportVerdict.newBuilder().setInstanceId(instanceId).setNode(node.getName())
                            .setVerdict(local)).build();
            submit.apply(cmd).whenComplete((r, e) -> {
                reportSentAt = 0;
                if (e != null || !r.getApplied()) {
                    LOG.debug("verdict report for {} not applied yet: {}", node.getName(), e != null ? e : r.getRejection());
                }
            });
        }

        void close() {
            loop.shutdownNow();
            prober.close();
        }
    }

    @Override
    public synchronized void close() {
        reconciler.shutdownNow();
        loops.values().forEach(NodeLoop::close);
        loops.clear();
    }
}

package io.metako.server.metrics;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import io.metako.proto.v1.TopologyEvent;
import io.metako.proto.v1.Verdict;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * One instance's Prometheus metrics, through the Prometheus Java client: the cluster as this instance sees it
 * (read at scrape time from one status snapshot), the events it applied (failovers, switchovers, rejoins, their
 * durations), its probes and verdicts, its Raft peer, its proxy, and the JVM. Names follow Prometheus' conventions:
 * {@code metako_} prefix, base units, {@code _total} counters. docs/metrics.md lists them.
 */
public final class InstanceMetrics {
    /** Seconds: from a fast switchover to a slow clone. */
    private static final double[] OPERATION_BUCKETS = {0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300, 900};
    private static final double[] STATEMENT_BUCKETS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
            0.5, 1, 2.5, 5, 10, 30};
    private static final double[] PROBE_BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

    /** The Raft numbers the status does not carry. */
    public interface RaftNumbers {
        long commitIndex();

        boolean isLeader();
    }

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Supplier<ClusterStatus> status;
    private final RaftNumbers raft;
    private final Counter failovers;
    private final Counter switchovers;
    private final Counter rejoins;
    private final Histogram operationSeconds;
    private final Counter verdictChanges;
    private final Histogram probeSeconds;
    private final Counter statementsTotal;
    private final Histogram statementSeconds;
    private final io.prometheus.metrics.core.datapoints.DistributionDataPoint primarySeconds;
    private final io.prometheus.metrics.core.datapoints.DistributionDataPoint replicaSeconds;
    private final Counter errors;
    private final Histogram waitSeconds;
    private final io.prometheus.metrics.core.datapoints.CounterDataPoint bytesIn;
    private final io.prometheus.metrics.core.datapoints.CounterDataPoint bytesOut;
    private final Histogram phaseSeconds;
    /** The statement counts by node, for the status (metakoctl status, the status report). */
    private final java.util.concurrent.ConcurrentHashMap<String, NodeCounts> byNode = new java.util.concurrent.ConcurrentHashMap<>();
    /** Errors the proxy itself sent (a wait given up, a lost backend, a session ended): no node to count them on. */
    private final java.util.concurrent.atomic.LongAdder proxyOwnFailures = new java.util.concurrent.atomic.LongAdder();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    /** The last history event counted (or seen at the baseline); null while the history was empty. */
    private TopologyEvent lastCounted;
    /** Events that happened before this (the instance's start, its command's clock) are never counted. */
    private long countFromMillis = Long.MIN_VALUE;
    /** Guards the history bookkeeping; apart from the scrape's lock, so a scrape never holds up the apply thread. */
    private final Object historyLock = new Object();
    private final Object scrapeLock = new Object();
    /** One status per scrape: every callback reads the same snapshot. */
    private volatile ClusterStatus scraped = ClusterStatus.getDefaultInstance();

    public InstanceMetrics(Supplier<ClusterStatus> status, RaftNumbers raft) {
        this.status = status;
        this.raft = raft;
        JvmMetrics.builder().register(registry);
        failovers = Counter.builder().name("metako_failovers_total").labelNames("reason")
                .help("Failovers this instance applied, by reason: primary_failed (automatic), operator (metakoctl"
                        + " failover), aborted").register(registry);
        switchovers = Counter.builder().name("metako_switchovers_total").labelNames("reason")
                .help("Switchovers this instance applied, by reason: operator, aborted").register(registry);
        rejoins = Counter.builder().name("metako_rejoins_total").labelNames("kind")
                .help("Nodes taken back as replicas that this instance applied: rejoin, adopted").register(registry);
        operationSeconds = Histogram.builder().name("metako_operation_duration_seconds").unit(Unit.SECONDS)
                .labelNames("kind").classicOnly().classicUpperBounds(OPERATION_BUCKETS)
                .help("How long failovers, switchovers and rejoins took, from the command that started them to the"
                        + " one that completed them").register(registry);
        verdictChanges = Counter.builder().name("metako_verdict_changes_total").labelNames("node", "verdict")
                .help("Changes of this instance's own verdict on a node (up, down)").register(registry);
        probeSeconds = Histogram.builder().name("metako_probe_duration_seconds").unit(Unit.SECONDS)
                .labelNames("node", "result").classicOnly().classicUpperBounds(PROBE_BUCKETS)
                .help("Health probes of the nodes by this instance, by result (ok, failed)").register(registry);
        statementsTotal = Counter.builder().name("metako_proxy_statements_total").labelNames("node", "route", "kind")
                .help("Client statements (a Query, or Parse..Sync) the statement router routed, by node, route"
                        + " (primary, replica: the node's role in the routing table) and kind (read, write, begin,"
                        + " begin_read_only, end_transaction, session)").register(registry);
        statementSeconds = Histogram.builder().name("metako_proxy_statement_duration_seconds").unit(Unit.SECONDS)
                .labelNames("route").classicOnly().classicUpperBounds(STATEMENT_BUCKETS)
                .help("From a client statement sent to its node to the node's ReadyForQuery, by route").register(registry);
        primarySeconds = statementSeconds.labelValues("primary");
        replicaSeconds = statementSeconds.labelValues("replica");
        errors = Counter.builder().name("metako_proxy_errors_total").labelNames("class")
                .help("ErrorResponses sent to clients, by SQLSTATE class (its first two characters: 08 connection,"
                        + " 23 integrity, 40 rollback, 57 operator intervention, ...), the nodes' and the proxy's own")
                .register(registry);
        waitSeconds = Histogram.builder().name("metako_proxy_wait_seconds").unit(Unit.SECONDS).labelNames("outcome")
                .classicOnly().classicUpperBounds(OPERATION_BUCKETS)
                .help("Statements held while there was no primary or no lease (a failover): how long, and whether they"
                        + " then ran (routed) or got an error (gave_up, after proxy.failover_wait)").register(registry);
        Counter bytes = Counter.builder().name("metako_proxy_client_bytes_total").unit(Unit.BYTES).labelNames("direction")
                .help("PostgreSQL protocol bytes between clients and the statement router (after TLS): in from"
                        + " clients, out to them").register(registry);
        bytesIn = bytes.labelValues("in");
        bytesOut = bytes.labelValues("out");
        phaseSeconds = Histogram.builder().name("metako_failover_phase_seconds").unit(Unit.SECONDS).labelNames("phase")
                .classicOnly().classicUpperBounds(OPERATION_BUCKETS)
                .help("Phases of a failover: detection (the first instance's DOWN verdict on the old primary to"
                        + " FailoverStarted) and promotion (pg_promote on the new primary, timed by the leader that ran"
                        + " it)").register(registry);
        clusterGauges();
    }

    private static final io.metako.proxy.route.StatementKind[] KINDS = io.metako.proxy.route.StatementKind.values();

    /**
     * The statement counts of one node, and its counters' data points by route and kind: looked up once, so a
     * statement costs a map lookup and two increments, no label array.
     */
    private final class NodeCounts {
        final String node;
        final io.prometheus.metrics.core.datapoints.CounterDataPoint[] points =
                new io.prometheus.metrics.core.datapoints.CounterDataPoint[2 * KINDS.length];
        final java.util.concurrent.atomic.LongAdder failures = new java.util.concurrent.atomic.LongAdder();

        NodeCounts(String node) {
            this.node = node;
            for (int r = 0; r < 2; r++) {
                for (io.metako.proxy.route.StatementKind k : KINDS) {
                    points[r * KINDS.length + k.ordinal()] = statements(node, r == 0 ? "primary" : "replica", k.label());
                }
            }
        }
    }

    private io.prometheus.metrics.core.datapoints.CounterDataPoint statements(String node, String route, String kind) {
        return statementsTotal.labelValues(node, route, kind);
    }

    private NodeCounts counts(String node) {
        NodeCounts c = byNode.get(node); // no lambda on the hot path once the node is known
        return c != null ? c : byNode.computeIfAbsent(node, NodeCounts::new);
    }

    /** What the statement router reports, counted here (called on its event loops: counters only). */
    public io.metako.proxy.session.ProxyObserver proxyObserver() {
        return new io.metako.proxy.session.ProxyObserver() {
            @Override
            public void routed(String node, boolean primary, io.metako.proxy.route.StatementKind kind) {
                // the one count: the status's totals are read back from these data points
                counts(node).points[(primary ? 0 : KINDS.length) + kind.ordinal()].inc();
            }

            @Override
            public void answered(String node, boolean primary, long nanos, boolean failed) {
                (primary ? primarySeconds : replicaSeconds).observe(nanos / 1e9);
            }

            @Override
            public void error(String node, String sqlState) {
                errors.labelValues(sqlState.length() >= 2 ? sqlState.substring(0, 2) : "unknown").inc();
                if (node.isEmpty()) {
                    proxyOwnFailures.increment();
                } else {
                    counts(node).failures.increment();
                }
            }

            @Override
            public void clientBytes(long in, long out) {
                if (in > 0) {
                    bytesIn.inc(in);
                }
                if (out > 0) {
                    bytesOut.inc(out);
                }
            }

            @Override
            public void waited(long nanos, boolean routed) {
                waitSeconds.labelValues(routed ? "routed" : "gave_up").observe(nanos / 1e9);
            }
        };
    }

    /** {@code proxy} with this instance's statement counts, overall (the proxy's own errors too) and by node. */
    public io.metako.proto.v1.ProxyStatus withStatements(io.metako.proto.v1.ProxyStatus proxy) {
        io.metako.proto.v1.ProxyStatus.Builder b = proxy.toBuilder();
        long total = 0;
        long reads = 0;
        long writes = 0;
        long failures = proxyOwnFailures.sum();
        for (var e : new java.util.TreeMap<>(byNode).entrySet()) {
            NodeCounts c = e.getValue();
            long st = 0;
            long r = 0;
            long w = 0;
            for (int i = 0; i < c.points.length; i++) {
                long v = c.points[i].getLongValue();
                io.metako.proxy.route.StatementKind k = KINDS[i % KINDS.length];
                st += v;
                if (k == io.metako.proxy.route.StatementKind.READ || k == io.metako.proxy.route.StatementKind.BEGIN_READ_ONLY) {
                    r += v;
                } else if (k == io.metako.proxy.route.StatementKind.WRITE) {
                    w += v;
                }
            }
            long f = c.failures.sum();
            total += st;
            reads += r;
            writes += w;
            failures += f;
            b.addNodes(io.metako.proto.v1.ProxyNodeStatements.newBuilder().setNode(e.getKey()).setStatements(st)
                    .setReads(r).setWrites(w).setFailures(f));
        }
        return b.setStatements(total).setReads(reads).setWrites(writes).setFailures(failures).build();
    }

    private void clusterGauges() {
        gauge("metako_node_healthy", "1 while a majority of instances see the node up", List.of("node"), (cb, s) -> {
            for (NodeStatus n : s.getNodesList()) {
                cb.call(n.getHealth() == MajorityHealth.HEALTHY ? 1 : 0, n.getNode().getName());
            }
        });
        gauge("metako_node_role", "1 for the node's role in the replicated topology (primary, replica, quarantined)",
                List.of("node", "role"), (cb, s) -> {
                    for (NodeStatus n : s.getNodesList()) {
                        cb.call(1, n.getNode().getName(), n.getNode().getRole().name().toLowerCase(Locale.ROOT));
                    }
                });
        gauge("metako_node_replication_lag_bytes", "A replica's replay position behind the primary's current one, as"
                + " this instance last saw it", List.of("node"), (cb, s) -> {
                    for (NodeStatus n : s.getNodesList()) {
                        if (n.getObservation().getReachable() && n.getObservation().getInRecovery()) {
                            cb.call(n.getObservation().getLagBytes(), n.getNode().getName());
                        }
                    }
                });
        gauge("metako_node_replication_lag_seconds", "Time since a replica's last replayed transaction, 0 when caught"
                + " up", List.of("node"), (cb, s) -> {
                    for (NodeStatus n : s.getNodesList()) {
                        if (n.getObservation().getReachable() && n.getObservation().getInRecovery()) {
                            cb.call(n.getObservation().getLagSeconds(), n.getNode().getName());
                        }
                    }
                });
        gauge("metako_node_timeline", "The node's timeline, as this instance last saw it", List.of("node"), (cb, s) -> {
            for (NodeStatus n : s.getNodesList()) {
                if (n.getObservation().getTimeline() > 0) {
                    cb.call(n.getObservation().getTimeline(), n.getNode().getName());
                }
            }
        });
        gauge("metako_epoch", "The topology epoch (one more at every change of primary)", List.of(),
                (cb, s) -> cb.call(s.getEpoch()));
        gauge("metako_raft_term", "This instance's Raft term", List.of(), (cb, s) -> cb.call(s.getTerm()));
        gauge("metako_raft_applied_index", "The last Raft log index this instance applied", List.of(),
                (cb, s) -> cb.call(s.getAppliedIndex()));
        gauge("metako_raft_commit_index", "The last Raft log index this instance knows committed", List.of(),
                (cb, s) -> cb.call(raft.commitIndex()));
        gauge("metako_raft_leader", "1 on the Raft leader", List.of(), (cb, s) -> cb.call(raft.isLeader() ? 1 : 0));
        gauge("metako_raft_members", "Instances in the Raft group", List.of(), (cb, s) -> cb.call(s.getInstances()));
        gauge("metako_write_lease", "1 while this instance holds the write lease (its proxy routes writes)", List.of(),
                (cb, s) -> cb.call(s.getHoldsLease() ? 1 : 0));
        gauge("metako_paused", "1 while automatic failover is paused", List.of(), (cb, s) -> cb.call(s.getPaused() ? 1 : 0));
        gauge("metako_proxy_client_sessions", "Client connections open on this instance's statement router", List.of(),
                (cb, s) -> cb.call(s.getProxy().getClientSessions()));
        gauge("metako_proxy_backend_connections", "The statement router's connections to each node: in_use (held by"
                + " a session) or kept (idle, for the next session)", List.of("node", "state"), (cb, s) -> {
                    for (var b : s.getProxy().getBackendsList()) {
                        cb.call(b.getInUse(), b.getNode(), "in_use");
                        cb.call(b.getKept(), b.getNode(), "kept");
                    }
                });
    }

    private interface StatusCallback {
        void accept(GaugeWithCallback.Callback cb, ClusterStatus s);
    }

    private void gauge(String name, String help, List<String> labels, StatusCallback callback) {
        GaugeWithCallback.builder().name(name).help(help).labelNames(labels.toArray(String[]::new))
                .callback(cb -> callback.accept(cb, scraped)).register(registry);
    }

    /** The metrics in Prometheus' text format, with one status snapshot behind every cluster gauge. */
    public byte[] scrape() {
        ClusterStatus snapshot = status.get(); // outside the lock: concurrent scrapes wait for the writing only
        ByteArrayOutputStream out = new ByteArrayOutputStream(16_384);
        synchronized (scrapeLock) {
            scraped = snapshot;
            try {
                writer.write(out, registry.scrape());
            } catch (IOException e) {
                throw new IllegalStateException(e); // a ByteArrayOutputStream does not fail
            }
        }
        return out.toByteArray();
    }

    public String contentType() {
        return writer.getContentType();
    }

    /**
     * Sets what is already known before the instance listens to changes: events in {@code s} (restored from a
     * snapshot), and any event that happened before {@code startedMillis} (replayed from the log later), are not
     * counted. Counters count what this instance applied while it ran; they start at 0.
     */
    public void baseline(ClusterState s, long startedMillis) {
        synchronized (historyLock) {
            List<TopologyEvent> history = s.getHistoryList();
            lastCounted = history.isEmpty() ? null : history.get(history.size() - 1);
            countFromMillis = startedMillis;
        }
    }

    /** Counts the history events {@code s} adds to what this instance saw last (on the Ratis apply thread). */
    public void onState(ClusterState s) {
        synchronized (historyLock) {
            count(s, s.getHistoryList());
        }
    }

    /** This instance, as leader, ran pg_promote for a failover or switchover: how long it took. */
    public void promoted(double seconds) {
        phaseSeconds.labelValues("promotion").observe(seconds);
    }

    private void count(ClusterState s, List<TopologyEvent> history) {
        int from = 0;
        if (lastCounted != null) {
            int i = history.lastIndexOf(lastCounted);
            if (i < 0) {
                // more than the kept history arrived at once: count what is newer than the last one counted
                long after = lastCounted.getTimeMillis();
                from = (int) history.stream().takeWhile(e -> e.getTimeMillis() <= after).count();
            } else {
                from = i + 1;
            }
        }
        for (TopologyEvent e : history.subList(from, history.size())) {
            if (e.getTimeMillis() >= countFromMillis) {
                count(e);
                if (e.getKind() == EventKind.FAILOVER && !e.getReason().startsWith("aborted")) {
                    detection(s, e);
                }
            }
        }
        if (!history.isEmpty()) {
            lastCounted = history.get(history.size() - 1);
        }
    }

    private void count(TopologyEvent e) {
        String kind = e.getKind().name().toLowerCase(Locale.ROOT);
        switch (e.getKind()) {
            case FAILOVER -> failovers.labelValues(reasonOf(e)).inc();
            case SWITCHOVER -> switchovers.labelValues(reasonOf(e)).inc();
            case REJOIN, ADOPTED -> rejoins.labelValues(kind).inc();
            default -> {
                return;
            }
        }
        if (e.getStartedMillis() > 0 && e.getTimeMillis() >= e.getStartedMillis()) {
            operationSeconds.labelValues(kind).observe((e.getTimeMillis() - e.getStartedMillis()) / 1000.0);
        }
    }

    /** From the first DOWN verdict on the old primary (still in the state) to the failover's start. */
    private void detection(ClusterState s, TopologyEvent e) {
        long firstDown = s.getVerdictsList().stream()
                .filter(v -> v.getNode().equals(e.getOldPrimary()) && v.getVerdict() == Verdict.DOWN)
                .mapToLong(io.metako.proto.v1.VerdictRecord::getSinceMillis)
                .filter(since -> since > 0 && since <= e.getStartedMillis()).min().orElse(-1);
        if (firstDown > 0) {
            phaseSeconds.labelValues("detection").observe((e.getStartedMillis() - firstDown) / 1000.0);
        }
    }

    /** A bounded label from the event's free-text reason (the texts FailoverTransitions and OperatorActions write). */
    static String reasonOf(TopologyEvent e) {
        if (e.getReason().startsWith("aborted")) {
            return "aborted";
        }
        if (e.getKind() == EventKind.SWITCHOVER || e.getReason().contains("asked by an operator")) {
            return "operator";
        }
        return "primary_failed";
    }

    /** A probe of {@code node} by this instance. */
    public void probed(String node, double seconds, boolean reachable) {
        probeSeconds.labelValues(node, reachable ? "ok" : "failed").observe(seconds);
    }

    /** This instance's own verdict on {@code node} changed. */
    public void verdictChanged(String node, Verdict verdict) {
        verdictChanges.labelValues(node, verdict == Verdict.UP ? "up" : verdict == Verdict.DOWN ? "down"
                : verdict.name().toLowerCase(Locale.ROOT)).inc();
    }
}

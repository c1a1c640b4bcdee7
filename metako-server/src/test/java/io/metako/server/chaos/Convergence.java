package io.metako.server.chaos;

import io.metako.proto.v1.ClusterStatus;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Convergence, watched during a round and checked at its end: the epoch every instance process
 * reports only rises, and once settled every instance holds the same topology (the same primary
 * and epoch, every node in the same role, the same synchronous set).
 */
final class Convergence implements AutoCloseable {
    private final ChaosCluster cluster;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
    private final Thread watcher;
    /** The highest epoch each instance process (by pid) has reported. */
    private final Map<Long, Long> highest = new HashMap<>();
    private int samples;
    /** When some instance first reported each epoch. */
    private final Map<Long, Long> epochSeen = new java.util.concurrent.ConcurrentSkipListMap<>();

    Convergence(ChaosCluster cluster) {
        this.cluster = cluster;
        this.watcher = new Thread(this::watch, "convergence-watch");
        this.watcher.setDaemon(true);
    }

    void start() {
        watcher.start();
    }

    private void watch() {
        while (!stop.get()) {
            for (int i = 0; i < cluster.instanceCount(); i++) {
                Optional<Long> pid = cluster.pid(i);
                Optional<ClusterStatus> s = cluster.status(i);
                if (pid.isEmpty() || s.isEmpty() || !s.get().getSeeded()) {
                    continue;
                }
                long epoch = s.get().getEpoch();
                epochSeen.putIfAbsent(epoch, System.currentTimeMillis());
                Long before = highest.put(pid.get(), Math.max(epoch, highest.getOrDefault(pid.get(), 0L)));
                samples++;
                if (before != null && epoch < before) {
                    problems.add(cluster.instanceName(i) + " (pid " + pid.get() + ") went back from epoch " + before + " to " + epoch);
                }
            }
            Workload.pause(200);
        }
    }

    /** Stops watching and compares every instance's settled topology with the first one's. */
    List<String> check(List<ClusterStatus> settled) throws InterruptedException {
        close();
        List<String> out = new ArrayList<>(problems);
        if (samples == 0) {
            out.add("no instance answered a status while the round ran");
        }
        if (!settled.isEmpty()) {
            String first = topology(settled.get(0));
            for (ClusterStatus s : settled.subList(1, settled.size())) {
                if (!topology(s).equals(first)) {
                    out.add(s.getAnsweredBy() + " holds " + topology(s) + " but " + settled.get(0).getAnsweredBy() + " holds " + first);
                }
            }
        }
        return out;
    }

    /** Each epoch with the wall-clock time some instance first reported it. */
    Map<Long, Long> epochsSeen() {
        return Map.copyOf(epochSeen);
    }

    private static String topology(ClusterStatus s) {
        StringBuilder b = new StringBuilder("epoch " + s.getEpoch() + ", primary " + s.getPrimary() + ", sync "
                + s.getSynchronousStandbysList() + ", roles");
        s.getNodesList().forEach(n -> b.append(' ').append(n.getNode().getName()).append('=').append(n.getNode().getRole()));
        return b.toString();
    }

    @Override
    public void close() throws InterruptedException {
        stop.set(true);
        watcher.join(10_000);
    }
}

package io.metako.server.chaos;

import io.metako.proto.v1.ClusterStatus;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A fault the harness injects into a settled cluster while the workload runs. Each draws its
 * choices (which instance, how long) from the round's seeded {@link Random}, so a seed replays a round.
 */
enum Scenario {
    /**
     * A frozen host: the primary's whole postmaster tree and one follower instance stop together
     * (SIGSTOP) for 8 to 12 s, the others fail over, then both thaw. On thaw the frozen instance
     * must not let a write reach the old primary.
     */
    FREEZE_PRIMARY_AND_FOLLOWER {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            int primary = c.nodeIndex(before.getPrimary());
            int leader = c.leaderIndex();
            List<Integer> followers = new ArrayList<>();
            for (int i = 0; i < c.instanceCount(); i++) {
                if (i != leader) {
                    followers.add(i);
                }
            }
            int follower = followers.get(random.nextInt(followers.size()));
            long millis = 8_000 + random.nextInt(4_001);
            List<ProcessHandle> host = new ArrayList<>(c.nodeTree(primary));
            host.add(c.instance(follower));
            t.mark("freeze " + before.getPrimary() + " (postmaster tree) + metako-" + (follower + 1) + " for " + millis + " ms");
            c.freeze(host);
            Thread.sleep(millis);
            c.thawAll();
            t.mark("thaw");
        }
    },
    /** The primary's postmaster is killed with SIGKILL and stays down. */
    KILL_PRIMARY {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            killPrimary(c, before, t);
            Thread.sleep(2_000 + random.nextInt(2_000));
        }
    },

    /**
     * The leader instance is killed (SIGKILL) 0 to 3 s after it wrote {@code FailoverStarted} for a killed
     * primary, and restarted 3 s later: the new leader finishes the failover from the log.
     */
    KILL_LEADER_DURING_FAILOVER {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            KILL_PRIMARY.killPrimary(c, before, t);
            awaitTarget(c, before, t);
            Thread.sleep(random.nextInt(3_001));
            int leader = c.leaderIndex();
            if (leader < 0) {
                t.mark("no leader known: nothing killed");
                return;
            }
            t.mark("kill -9 metako-" + (leader + 1) + " (leader)");
            c.killInstance(leader);
            Thread.sleep(3_000);
            c.startInstance(leader);
            t.mark("metako-" + (leader + 1) + " restarted");
        }
    },
    /**
     * A stale leader: the primary is killed; once {@code FailoverStarted} names a target, the target's
     * postmaster tree is frozen (so the leader's {@code pg_promote} on it hangs), then the leader itself.
     * A new leader moves the failover to the third node and promotes it; then both thaw, and the old
     * leader's promotion of the first target may still go through. Its {@code FailoverCompleted} must count
     * for nothing (its term is over), and a node promoted that way must take no write.
     */
    STALE_LEADER_DURING_PROMOTE {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            int leader = c.leaderIndex();
            long logFrom = leader < 0 ? 0 : c.logSize(leader);
            killPrimary(c, before, t);
            java.util.Optional<String> target = awaitTarget(c, before, t);
            if (leader < 0 || target.isEmpty()) {
                t.mark("no leader or no target known: nothing frozen");
                return;
            }
            // the leader logs its decision right before it promotes: freeze the target then, so that its pg_promote hangs
            boolean promoting = c.awaitLogLine(leader, logFrom, "promoting " + target.get() + " at epoch", 10_000);
            c.freeze(c.nodeTree(c.nodeIndex(target.get())));
            t.fact("staleTarget", c.nodeIndex(target.get()));
            t.mark("freeze " + target.get() + (promoting ? " as the leader starts promoting it"
                    : " (the leader had not logged its promotion within 10 s)"));
            Thread.sleep(300 + random.nextInt(701));
            c.freeze(List.of(c.instance(leader)));
            t.mark("freeze metako-" + (leader + 1) + " (the leader)");
            // in sync mode no failover may happen now (one of the two synchronous standbys is frozen): it waits
            long deadline = System.currentTimeMillis() + 15_000;
            String promoted = "";
            while (promoted.isEmpty() && System.currentTimeMillis() < deadline) {
                for (int i = 0; i < c.instanceCount() && promoted.isEmpty(); i++) {
                    if (i != leader) {
                        promoted = c.status(i).map(ClusterStatus::getPrimary).orElse("");
                    }
                }
                Thread.sleep(100);
            }
            t.mark(promoted.isEmpty() ? "no new primary within 15 s" : "the new leader promoted " + promoted);
            Thread.sleep(random.nextInt(3_001));
            c.thawAll();
            t.mark("thaw " + target.get() + " and metako-" + (leader + 1));
        }

        /** The first target, if the stale leader's promotion went through on thaw, must be fenced soon after: never a second writer. */
        @Override
        void afterSettle(ChaosCluster c, ClusterStatus after, Timeline t) throws Exception {
            java.util.Optional<Long> first = t.fact("staleTarget");
            if (first.isEmpty() || c.nodeName(first.get().intValue()).equals(after.getPrimary())) {
                return;
            }
            int node = first.get().intValue();
            long deadline = System.currentTimeMillis() + 10_000;
            String state = "";
            while (System.currentTimeMillis() < deadline) {
                try (java.sql.Connection conn = c.connectNode(node); java.sql.Statement st = conn.createStatement();
                     java.sql.ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')")) {
                    rs.next();
                    if (rs.getBoolean(1)) {
                        t.mark(c.nodeName(node) + " stayed in recovery (the stale promotion never ran)");
                        return;
                    }
                    if (rs.getString(2).equals("on")) {
                        t.mark(c.nodeName(node) + " was promoted by the stale leader and is fenced (read-only)");
                        return;
                    }
                    state = "out of recovery and writable";
                } catch (java.sql.SQLException e) {
                    state = "unreachable: " + e.getMessage();
                }
                Thread.sleep(200);
            }
            t.mark(c.nodeName(node) + " is " + state + " 10 s after the cluster settled");
            if (state.startsWith("out of recovery")) {
                t.fact("unsafe", 1);
            }
        }
    },
    /**
     * The leader's wall clock steps back one hour (an LD_PRELOAD shim, see {@link ChaosCluster#stepClock}) during a failover of a killed primary,
     * either right at the kill or just after {@code FailoverStarted}: leases, cooldowns and timeouts run
     * on monotonic clocks, so the failover completes as usual.
     */
    CLOCK_STEP_ON_LEADER {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            int leader = c.leaderIndex();
            boolean atKill = random.nextBoolean();
            killPrimary(c, before, t);
            if (!atKill) {
                awaitTarget(c, before, t);
                Thread.sleep(random.nextInt(1_001));
            }
            if (leader >= 0) {
                c.stepClock(leader, -3_600_000);
                t.fact("steppedInstance", leader);
                t.mark("the wall clock of metako-" + (leader + 1) + " (leader) steps back one hour");
            }
            Thread.sleep(3_000 + random.nextInt(2_001));
        }

        /** The step must have taken: the stepped instance stamps its probes' observations about an hour back. */
        @Override
        void afterSettle(ChaosCluster c, ClusterStatus after, Timeline t) throws Exception {
            java.util.Optional<Long> stepped = t.fact("steppedInstance");
            if (stepped.isEmpty()) {
                return;
            }
            int i = stepped.get().intValue();
            long behind = c.status(i).flatMap(s -> s.getNodesList().stream().map(n -> n.getObservation().getObservedAtMillis())
                    .filter(at -> at > 0).max(Long::compare)).map(at -> (System.currentTimeMillis() - at) / 1000).orElse(-1L);
            t.mark("metako-" + (i + 1) + "'s newest observation is stamped " + behind + " s behind");
            if (behind < 3_500 || behind > 3_700) {
                throw new AssertionError("the clock step did not take effect: metako-" + (i + 1) + "'s observations are "
                        + behind + " s behind, not about 3600");
            }
        }

        @Override
        boolean fakeClocks() {
            return true;
        }
    },
    /**
     * A host partition: {one instance + the primary} cut off from {the other instances + the replicas}
     * (Raft links, probes, replication), while clients still reach every proxy. Healed after 0.5, 2, 3
     * or 20 s; in half the rounds the Raft links heal 8 s before the PostgreSQL links, so the leader
     * cannot fence the old primary meanwhile. The cut-off instance must stop routing writes within
     * the lease, and never route one to the old primary once the new one took a write.
     */
    HOST_PARTITION {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            int primary = c.nodeIndex(before.getPrimary());
            int cutOff = random.nextInt(c.instanceCount());
            long[] durations = {500, 2_000, 3_000, 20_000};
            long cut = durations[random.nextInt(durations.length)];
            boolean raftFirst = random.nextBoolean();
            Firewall f = c.firewall();
            f.as("raft");
            for (int i = 0; i < c.instanceCount(); i++) {
                if (i != cutOff) {
                    f.dropTo(c.instanceName(cutOff), c.raftPort(i));
                    f.dropTo(c.instanceName(i), c.raftPort(cutOff));
                }
            }
            f.as("pg");
            for (int n = 0; n < c.cluster.nodes().size(); n++) {
                if (n == primary) {
                    for (int i = 0; i < c.instanceCount(); i++) {
                        if (i != cutOff) {
                            f.dropTo(c.instanceName(i), c.nodePort(primary));
                        }
                    }
                } else {
                    f.dropTo(c.instanceName(cutOff), c.nodePort(n));
                    f.dropTo(c.nodeName(n), c.nodePort(primary)); // replication
                }
            }
            t.fact("cutOffMask", 1L << cutOff);
            t.fact("cutMillis", System.currentTimeMillis());
            t.mark("partition {" + c.instanceName(cutOff) + ", " + before.getPrimary() + "} | the rest, for " + cut + " ms"
                    + (raftFirst ? "; the Raft links heal 8 s before the PostgreSQL links" : ""));
            Thread.sleep(cut);
            if (raftFirst) {
                f.heal("raft");
                t.fact("raftHealMillis", System.currentTimeMillis());
                t.mark("Raft links healed; PostgreSQL links still cut");
                Thread.sleep(8_000);
            }
            f.healAll();
            t.fact("raftHealMillis", t.fact("raftHealMillis").orElse(System.currentTimeMillis()));
            t.mark("healed");
        }

        @Override
        boolean failsOver() {
            return false; // a short cut heals before anyone sees the primary down
        }

        @Override
        boolean mayFailOver() {
            return true; // a long one does not
        }
    },
    /**
     * Two instances lose their links to the primary (probes and proxy backends) for 6 to 10 s while
     * replication and the third instance's links stay up: a majority sees the primary down, but a replica
     * still streams from it, and that veto must hold. Nothing fails over, nothing is lost.
     */
    INSTANCES_CUT_FROM_PRIMARY {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            int primary = c.nodeIndex(before.getPrimary());
            int spared = random.nextInt(c.instanceCount());
            long cut = 6_000 + random.nextInt(4_001);
            Firewall f = c.firewall();
            for (int i = 0; i < c.instanceCount(); i++) {
                if (i != spared) {
                    f.dropTo(c.instanceName(i), c.nodePort(primary));
                }
            }
            t.mark("every instance but " + c.instanceName(spared) + " cut from " + before.getPrimary() + " (replication intact)"
                    + ", for " + cut + " ms");
            Thread.sleep(cut);
            f.healAll();
            t.mark("healed");
        }

        @Override
        boolean failsOver() {
            return false;
        }
    },
    /**
     * Clients stop hearing one instance: what its router and rw_port send is lost for 4 to 7 s, and the
     * primary is killed 1 s into it. Statements in flight on that instance get their answers late or never
     * (unknown); none may be applied twice, on the old primary after the new one, or reported failed yet
     * committed.
     */
    CLIENT_REPLIES_LOST_DURING_FAILOVER {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            int muted = random.nextInt(c.instanceCount());
            long cut = 4_000 + random.nextInt(3_001);
            Firewall f = c.firewall();
            for (int port : c.clientPorts(muted)) {
                f.dropFrom(c.instanceName(muted), port);
            }
            t.mark("what " + c.instanceName(muted) + " sends to its clients is lost, for " + cut + " ms");
            Thread.sleep(1_000);
            killPrimary(c, before, t);
            Thread.sleep(cut - 1_000);
            f.healAll();
            t.mark("healed");
        }
    },
    /**
     * A one-way Raft link: a follower keeps receiving the leader's heartbeats, but everything it sends
     * from its Raft port (its replies) and to the leader is lost, for 5 to 10 s. It must stop routing
     * writes within the lease (it can no longer complete a round trip), and nothing may fail over.
     */
    ONE_WAY_RAFT_LINK {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            int leader = c.leaderIndex();
            int follower = (leader + 1 + random.nextInt(c.instanceCount() - 1)) % c.instanceCount();
            long cut = 5_000 + random.nextInt(5_001);
            Firewall f = c.firewall();
            f.dropFrom(c.instanceName(follower), c.raftPort(follower));
            f.dropTo(c.instanceName(follower), c.raftPort(leader));
            holdCut(f, t, 1L << follower, cut, c.instanceName(follower) + " hears " + c.instanceName(leader)
                    + " but its Raft replies are lost");
        }

        @Override
        boolean failsOver() {
            return false;
        }
    },
    /**
     * Five instances split 3|2 on their Raft links for 5 to 10 s; every instance still reaches every
     * node. The minority must stop routing writes within the lease; nothing fails over.
     */
    FIVE_INSTANCES_SPLIT_3_2 {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            List<Integer> all = new ArrayList<>();
            for (int i = 0; i < c.instanceCount(); i++) {
                all.add(i);
            }
            java.util.Collections.shuffle(all, random);
            List<Integer> minority = all.subList(0, 2);
            long cut = 5_000 + random.nextInt(5_001);
            Firewall f = c.firewall();
            long mask = 0;
            for (int m : minority) {
                mask |= 1L << m;
                for (int o : all.subList(2, all.size())) {
                    f.dropTo(c.instanceName(m), c.raftPort(o));
                    f.dropTo(c.instanceName(o), c.raftPort(m));
                }
            }
            holdCut(f, t, mask, cut, "Raft split {" + c.instanceName(minority.get(0)) + ", " + c.instanceName(minority.get(1))
                    + "} | the other three");
        }

        @Override
        boolean failsOver() {
            return false;
        }

        @Override
        int instances() {
            return 5;
        }
    },
    /** Every instance is killed (SIGKILL) at once and restarted 1 to 3 s later: state and routing come back. */
    RESTART_EVERY_INSTANCE {
        @Override
        void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception {
            t.mark("kill -9 every instance");
            for (int i = 0; i < c.instanceCount(); i++) {
                c.killInstance(i);
            }
            Thread.sleep(1_000 + random.nextInt(2_001));
            for (int i = 0; i < c.instanceCount(); i++) {
                c.startInstance(i);
            }
            t.mark("every instance restarted");
        }

        @Override
        boolean failsOver() {
            return false;
        }
    };

    abstract void inject(ChaosCluster c, ClusterStatus before, Random random, Timeline t) throws Exception;

    /**
     * Keeps the cut the firewall holds for {@code millis}, then heals it, recording which instances
     * ({@code mask}) were cut off and when, for the round's "stopped routing writes" figure.
     */
    static void holdCut(Firewall f, Timeline t, long mask, long millis, String what) throws Exception {
        t.fact("cutOffMask", mask);
        t.fact("cutMillis", System.currentTimeMillis());
        t.mark(what + ", for " + millis + " ms");
        Thread.sleep(millis);
        f.healAll();
        t.fact("raftHealMillis", System.currentTimeMillis());
        t.mark("healed");
    }

    /** The failover's target once some instance shows a {@code FailoverStarted} (within 30 s). */
    static java.util.Optional<String> awaitTarget(ChaosCluster c, ClusterStatus before, Timeline t) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            for (int i = 0; i < c.instanceCount(); i++) {
                java.util.Optional<String> target = c.status(i).filter(s -> s.getEpoch() > before.getEpoch())
                        .flatMap(s -> s.getNodesList().stream()
                                .filter(n -> n.getNode().getRole() == io.metako.proto.v1.NodeRole.CANDIDATE)
                                .map(n -> n.getNode().getName()).findFirst());
                if (target.isPresent()) {
                    t.mark("FailoverStarted applied, target " + target.get());
                    return target;
                }
            }
            Thread.sleep(50);
        }
        t.mark("no FailoverStarted seen within 30 s");
        return java.util.Optional.empty();
    }

    /** Whether its instances run under libfaketime, so that their wall clocks can be stepped. */
    boolean fakeClocks() {
        return false;
    }

    /** How many metako instances its cluster runs. */
    int instances() {
        return 3;
    }

    /** Whether the fault must end in a new primary. */
    boolean failsOver() {
        return true;
    }

    /** Whether the fault may end in a new primary; a round of one that may not fails if the epoch moved. */
    boolean mayFailOver() {
        return failsOver();
    }

    /**
     * Checks after the cluster settled that the fault did what it says (an assertion error when it did not:
     * the round proves nothing then), and records what became of it in the timeline.
     */
    void afterSettle(ChaosCluster c, ClusterStatus after, Timeline t) throws Exception {
    }

    void killPrimary(ChaosCluster c, ClusterStatus before, Timeline t) throws Exception {
        int primary = c.nodeIndex(before.getPrimary());
        ProcessHandle postmaster = c.nodeTree(primary).get(0);
        t.mark("kill -9 " + before.getPrimary() + " postmaster " + postmaster.pid());
        postmaster.destroyForcibly();
    }

    String label() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    /** Fault events with their time since the round's start, for the round's report. */
    static final class Timeline {
        private final long start = System.currentTimeMillis();
        private final List<Mark> marks = new java.util.concurrent.CopyOnWriteArrayList<>();

        /** One fault event at its wall-clock time. */
        record Mark(long atMillis, String text) {
        }

        private final java.util.Map<String, Long> facts = new java.util.concurrent.ConcurrentHashMap<>();

        /** A value the checks need (which instance was cut off, when). */
        void fact(String name, long value) {
            facts.put(name, value);
        }

        java.util.Optional<Long> fact(String name) {
            return java.util.Optional.ofNullable(facts.get(name));
        }

        void mark(String event) {
            marks.add(new Mark(System.currentTimeMillis(), event));
        }

        List<String> events() {
            return marks.stream().map(m -> String.format("+%.1fs %s", (m.atMillis() - start) / 1000.0, m.text())).toList();
        }

        List<Mark> marks() {
            return List.copyOf(marks);
        }

        long startMillis() {
            return start;
        }
    }
}

package io.metako.server.control;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.InstanceEntry;
import io.metako.proto.v1.RegisterInstance;
import io.metako.proto.v1.RetireInstance;
import io.metako.server.state.RaftNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The leader's upkeep of the instance registry ({@link ClusterState#getInstancesList()}) against the Raft
 * configuration. Every member of the configuration is registered (the original ones too, with the admin API address
 * the file gives). An instance out of the configuration keeps its registration, and so keeps counting in every
 * epoch's acknowledgements, until this leader has seen it out for lease + margin: any lease it was granted while it
 * was a member has run out by then. An instance this leader is adding right now ({@link #adding}) is never retired.
 */
public final class MemberRegistry {
    private static final long RESEND_NANOS = 2_000_000_000L;

    /** Registered, not in the configuration: since when this leader has seen it so (System.nanoTime()). */
    private final Map<String, Long> outSince = new HashMap<>();
    /** The last time a command went out for an id, so that one in flight is not sent again at every tick. */
    private final Map<String, Long> sentAt = new HashMap<>();
    private final Set<String> adding = ConcurrentHashMap.newKeySet();


    /** The members that count: every registered instance and every member of the configuration (either one, during a change). */
    public static List<String> members(ClusterState s, RaftNode.Conf conf, List<String> fallback) {
        if (conf.current().isEmpty()) {
            return fallback;
        }
        Set<String> ids = new TreeSet<>(conf.ids());
        s.getInstancesList().forEach(i -> ids.add(i.getId()));
        return List.copyOf(ids);
    }

    /** An add of {@code id} is under way on this leader: its registration stays while the configuration catches up. */
    public AutoCloseable adding(String id) {
        adding.add(id);
        return () -> adding.remove(id);
    }

    /** Not the leader (any more): a leader later counts from what it sees then. */
    public synchronized void reset() {
        outSince.clear();
        sentAt.clear();
    }

    /**
     * The commands that bring the registry in line with {@code conf} now, for a leader in {@code term};
     * {@code apiAddresses}: the admin API address of the instances the file names; {@code waitNanos}: lease + margin,
     * how long an instance that voted ({@link InstanceEntry#getVoted()}) is kept once out of the configuration;
     * {@code neverVotedWaitNanos}: likewise for one that never did (being added, maybe by an earlier leader, whose
     * catching up may take a while).
     */
    public synchronized List<Command.Builder> reconcile(ClusterState s, RaftNode.Conf conf, long term,
                                                        Map<String, String> apiAddresses, long nowNanos, long waitNanos,
                                                        long neverVotedWaitNanos) {
        List<Command.Builder> commands = new ArrayList<>();
        if (!s.getSeeded() || conf.current().isEmpty()) {
            return commands;
        }
        Map<String, InstanceEntry> registered = new HashMap<>();
        s.getInstancesList().forEach(i -> registered.put(i.getId(), i));
        for (RaftNode.Peer p : conf.current()) {
            InstanceEntry known = registered.get(p.id());
            if (known == null && due(p.id(), nowNanos)) {
                commands.add(command(s, term).setRegisterInstance(registration(p.id(), p.raftAddress(),
                        apiAddresses.getOrDefault(p.id(), ""), true)));
            } else if (known != null && !known.getVoted() && due(p.id(), nowNanos)) {
                // it votes now: once out of the configuration again, lease + margin is enough
                commands.add(command(s, term).setRegisterInstance(RegisterInstance.newBuilder().setInstance(
                        known.toBuilder().setVoted(true))));
            }
        }
        Set<String> inConf = conf.ids();
        outSince.keySet().removeIf(id -> inConf.contains(id) || !registered.containsKey(id));
        for (InstanceEntry i : s.getInstancesList()) {
            if (inConf.contains(i.getId()) || adding.contains(i.getId())) {
                outSince.remove(i.getId());
                continue;
            }
            long since = outSince.computeIfAbsent(i.getId(), id -> nowNanos);
            long wait = i.getVoted() ? waitNanos : Math.max(waitNanos, neverVotedWaitNanos);
            if (nowNanos - since >= wait && due(i.getId(), nowNanos)) {
                commands.add(command(s, term).setRetireInstance(RetireInstance.newBuilder().setId(i.getId())));
            }
        }
        return commands;
    }

    /** The registration of instance {@code id}: its addresses, and whether it has voted in the configuration. */
    public static RegisterInstance.Builder registration(String id, String raftAddress, String apiAddress, boolean voted) {
        return RegisterInstance.newBuilder().setInstance(InstanceEntry.newBuilder().setId(id).setRaftAddress(raftAddress)
                .setApiAddress(apiAddress).setVoted(voted));
    }

    private boolean due(String id, long nowNanos) {
        Long last = sentAt.get(id);
        if (last != null && nowNanos - last < RESEND_NANOS) {
            return false;
        }
        sentAt.put(id, nowNanos);
        return true;
    }

    private static Command.Builder command(ClusterState s, long term) {
        return Command.newBuilder().setEpoch(s.getEpoch()).setProposerTerm(term);
    }
}

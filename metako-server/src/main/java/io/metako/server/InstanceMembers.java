package io.metako.server;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import io.metako.proto.v1.InstanceEntry;
import io.metako.proto.v1.Member;
import io.metako.proto.v1.MutationResponse;
import io.metako.server.api.AdminException;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.PeerConfig;
import io.metako.server.control.MemberRegistry;
import io.metako.server.routing.LeaseKeeper;
import io.metako.server.state.MetakoStateMachine;
import io.metako.server.state.RaftNode;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Raft group's membership as this instance sees and changes it: who counts as a member (the Raft configuration
 * and the log's registry, {@link MemberRegistry}), what {@code metakoctl members} shows, and {@code members add /
 * remove}, which only the leader carries out (it alone knows which followers answer, and keeps an instance being
 * added registered while the configuration catches up).
 */
final class InstanceMembers {
    private static final Logger LOG = LoggerFactory.getLogger(InstanceMembers.class);
    /** How long a new instance may take to catch up and the new configuration to be committed. */
    static final Duration CHANGE_TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
    private static final Pattern ADDRESS = Pattern.compile("(\\[[0-9A-Fa-f:.]+]|[A-Za-z0-9._-]+):[0-9]{1,5}");

    /** Silence after which the leader counts a follower as not reachable (Ratis heartbeats go every ~150 ms here). */
    static final long SILENT_MILLIS = 2000;

    private final RaftNode raft;
    private final MetakoStateMachine stateMachine;
    private final Supplier<MetakoConfig> config;
    private final Function<Command, CompletableFuture<CommandResult>> submit;
    private final LongSupplier leaseMillis;
    private final Clock clock;
    private final MemberRegistry registry = new MemberRegistry();

    InstanceMembers(RaftNode raft, MetakoStateMachine stateMachine, Supplier<MetakoConfig> config,
                    Function<Command, CompletableFuture<CommandResult>> submit, LongSupplier leaseMillis, Clock clock) {
        this.raft = raft;
        this.stateMachine = stateMachine;
        this.config = config;
        this.submit = submit;
        this.leaseMillis = leaseMillis;
        this.clock = clock;
    }

    /** The instances an epoch must be acknowledged by: see {@link MemberRegistry#members}. */
    List<String> ids() {
        return MemberRegistry.members(stateMachine.state(), raft.conf(), filePeers());
    }

    /**
     * The voters of the Raft configuration (both, while a change is committed): their verdicts make a node's health.
     * An instance registered and not yet voting does not count there: a replacement that never starts must not
     * raise the number of verdicts a failover needs.
     */
    List<String> voters() {
        RaftNode.Conf conf = raft.conf();
        return conf.current().isEmpty() ? filePeers() : List.copyOf(conf.ids());
    }

    private List<String> filePeers() {
        return config.get().peers().stream().map(PeerConfig::id).toList();
    }

    /** The term this instance last led in, and since when (System.nanoTime()): a new leader's silence figures are young. */
    private volatile long ledTerm = -1;
    private volatile long leaderSinceNanos;

    /** One control-loop tick on the leader: the registry brought in line with the configuration. */
    void tick(boolean leader, long term) {
        if (!leader || term != ledTerm) {
            registry.reset(); // a leader again later (or in a new term) counts from then
            ledTerm = leader ? term : -1;
            leaderSinceNanos = System.nanoTime();
            if (!leader) {
                return;
            }
        }
        long lease = leaseMillis.getAsLong();
        long wait = TimeUnit.MILLISECONDS.toNanos(lease + LeaseKeeper.marginMillis(lease));
        Map<String, String> api = fileApiAddresses();
        String self = raft.selfId();
        long neverVoted = wait + TimeUnit.MILLISECONDS.toNanos(3 * CHANGE_TIMEOUT.toMillis());
        for (Command.Builder c : registry.reconcile(stateMachine.state(), raft.conf(), term, api, System.nanoTime(), wait,
                neverVoted)) {
            Command command = c.setTimeMillis(clock.millis()).setProposer(self).build();
            submit.apply(command).whenComplete((r, e) -> {
                if (e == null && r.getApplied()) {
                    LOG.info("instance registry: {} applied at index {}", command.getKindCase(), r.getLogIndex());
                }
            });
        }
    }

    /** The admin API address of each peer of the file that gives one. */
    private Map<String, String> fileApiAddresses() {
        Map<String, String> api = new TreeMap<>();
        for (PeerConfig p : config.get().peers()) {
            if (p.grpcAddress() != null) {
                api.put(p.id(), p.grpcAddress().toString());
            }
        }
        return api;
    }

    /** A command this instance proposes now, in the epoch of {@code s}. */
    private Command.Builder command(ClusterState s) {
        return Command.newBuilder().setEpoch(s.getEpoch()).setTimeMillis(clock.millis()).setProposer(raft.selfId());
    }

    /** The members as {@code metakoctl members} and status show them: the configuration's, then the registered others. */
    List<Member> view() {
        ClusterState s = stateMachine.state();
        RaftNode.Conf conf = raft.conf();
        Map<String, Member.Builder> members = new TreeMap<>();
        for (PeerConfig p : config.get().peers()) {
            if (conf.current().isEmpty() || conf.ids().contains(p.id())) {
                members.put(p.id(), Member.newBuilder().setId(p.id()).setRaftAddress(p.raftAddress().toString())
                        .setGrpcAddress(p.grpcAddress() == null ? "" : p.grpcAddress().toString())
                        .setMembership(conf.current().isEmpty() ? "" : "unregistered"));
            }
        }
        for (RaftNode.Peer p : conf.current()) {
            members.computeIfAbsent(p.id(), id -> Member.newBuilder().setId(id).setRaftAddress(p.raftAddress()))
                    .setMembership("unregistered");
        }
        for (RaftNode.Peer p : conf.previous()) {
            members.computeIfAbsent(p.id(), id -> Member.newBuilder().setId(id).setRaftAddress(p.raftAddress()))
                    .setMembership("leaving");
        }
        for (InstanceEntry i : s.getInstancesList()) {
            Member.Builder m = members.computeIfAbsent(i.getId(), id -> Member.newBuilder().setId(id));
            m.setRaftAddress(i.getRaftAddress());
            if (!i.getApiAddress().isEmpty()) {
                m.setGrpcAddress(i.getApiAddress());
            }
            m.setMembership(conf.has(i.getId()) ? "voter" : conf.ids().contains(i.getId()) ? "leaving"
                    : conf.current().isEmpty() ? "" : "registered");
        }
        return members.values().stream().map(Member.Builder::build).toList();
    }

    /** {@code metakoctl members add}: registers the instance through the log, then changes the Raft configuration. */
    MutationResponse add(io.metako.proto.v1.AddMemberRequest r) {
        List<String> problems = new ArrayList<>();
        if (!ID.matcher(r.getId()).matches()) {
            problems.add("ID: '" + r.getId() + "' is not an instance id (1 to 63 letters, digits, '.', '_' or '-')");
        }
        if (!ADDRESS.matcher(r.getRaftAddress()).matches()) {
            problems.add("RAFT_ADDR: '" + r.getRaftAddress() + "' is not host:port");
        }
        if (!ADDRESS.matcher(r.getApiAddress()).matches()) {
            problems.add("API_ADDR: '" + r.getApiAddress() + "' is not host:port");
        }
        if (!problems.isEmpty()) {
            throw new AdminException(AdminException.Kind.INVALID_ARGUMENT, String.join("; ", problems));
        }
        RaftNode.Conf conf = leaderConf();
        if (conf.ids().contains(r.getId())) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "instance " + r.getId()
                    + " is a member of the Raft group already");
        }
        for (RaftNode.Peer p : conf.current()) {
            if (p.raftAddress().equals(r.getRaftAddress())) {
                throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, r.getRaftAddress()
                        + " is the Raft address of member " + p.id() + " already");
            }
        }
        ClusterState s = stateMachine.state();
        try (AutoCloseable ignored = registry.adding(r.getId())) {
            Command register = command(s).setRegisterInstance(MemberRegistry.registration(r.getId(), r.getRaftAddress(),
                    r.getApiAddress(), false).setRequestedBy(r.getRequestedBy())).build();
            CommandResult registered = submit.apply(register).get(RaftNode.SUBMIT_TIMEOUT_SECONDS + 2, TimeUnit.SECONDS);
            if (!registered.getApplied()) {
                throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "instance " + r.getId()
                        + " not registered: " + registered.getRejection());
            }
            List<RaftNode.Peer> next = new ArrayList<>(conf.current());
            next.add(new RaftNode.Peer(r.getId(), r.getRaftAddress()));
            LOG.info("adding instance {} (Raft {}) to the group: {} -> {} members", r.getId(), r.getRaftAddress(),
                    conf.current().size(), next.size());
            raft.changeConfiguration(conf.current(), next, CHANGE_TIMEOUT);
            LOG.info("instance {} is a member of the Raft group", r.getId());
            return answer("instance " + r.getId() + " joined: the Raft group has " + next.size()
                    + " members, majority " + (next.size() / 2 + 1));
        } catch (AdminException e) {
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AdminException(AdminException.Kind.UNAVAILABLE, "interrupted");
        } catch (Exception e) {
            LOG.warn("adding instance {} failed: {}", r.getId(), e.toString());
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "instance " + r.getId() + " did not join: "
                    + e.getMessage() + ". It must be running, started with --join on empty storage, and reachable at "
                    + r.getRaftAddress() + " from every member; its registration ends by itself");
        }
    }

    /**
     * {@code metakoctl members remove}: refused when fewer than a majority of the current members, or of the new
     * configuration, would be left reachable (the leader's measure: a follower it has had no
     * message from for {@link #SILENT_MILLIS} or a lease, whichever is longer, counts as not: heartbeats go several
     * times a second).
     */
    MutationResponse remove(io.metako.proto.v1.RemoveMemberRequest r) {
        RaftNode.Conf conf = leaderConf();
        if (!conf.has(r.getId())) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "instance " + r.getId()
                    + " is not a member of the Raft group (members: " + conf.ids() + ")");
        }
        long ledMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - leaderSinceNanos);
        long silentMillis = Math.max(SILENT_MILLIS, leaseMillis.getAsLong());
        if (ledTerm < 0 || ledTerm != raft.currentTerm() || ledMillis < silentMillis) {
            // a new leader has not yet had the time to see which followers are silent
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "this instance became the Raft leader "
                    + ledMillis + " ms ago and cannot tell yet which members answer: try again in "
                    + ((silentMillis - ledMillis) / 1000 + 1) + " s");
        }
        if (stateMachine.state().getInstancesList().stream().noneMatch(i -> i.getId().equals(r.getId()))) {
            registerNow(r.getId(), conf); // it must count in acknowledgements until its lease has run out
        }
        List<RaftNode.Peer> next = conf.current().stream().filter(p -> !p.id().equals(r.getId())).toList();
        Set<String> silent = raft.unresponsiveFollowers(silentMillis);
        List<String> reachable = next.stream().map(RaftNode.Peer::id).filter(id -> !silent.contains(id)).toList();
        int majorityNow = conf.current().size() / 2 + 1;
        int majorityNext = next.size() / 2 + 1;
        if (next.isEmpty() || reachable.size() < Math.max(majorityNow, majorityNext)) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "removing " + r.getId() + " would leave "
                    + reachable.size() + " reachable members " + reachable + " of " + conf.current().size()
                    + " (not answering: " + new java.util.TreeSet<>(silent) + "), fewer than a majority ("
                    + Math.max(majorityNow, majorityNext) + "): bring the silent members back, or add a new member"
                    + " first (metakoctl members add)");
        }
        try {
            LOG.info("removing instance {} from the group ({} requested): {} -> {} members", r.getId(),
                    r.getRequestedBy(), conf.current().size(), next.size());
            String leader = r.getId().equals(raft.selfId()) ? handOver(reachable) : raft.selfId();
            raft.changeConfiguration(conf.current(), next, CHANGE_TIMEOUT, leader);
        } catch (java.io.IOException e) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "instance " + r.getId()
                    + " was not removed: " + e.getMessage() + " (check with metakoctl members before asking again)");
        }
        LOG.info("instance {} left the Raft group", r.getId());
        return answer("instance " + r.getId() + " left: the Raft group has " + next.size() + " members, majority "
                + majorityNext + ". It routes nothing any more; stop it. Its registration ends once any lease it held"
                + " has run out");
    }

    /** Registers a member of the configuration the leader has not registered yet (it does so within a tick). */
    private void registerNow(String id, RaftNode.Conf conf) {
        String raftAddress = conf.current().stream().filter(p -> p.id().equals(id)).map(RaftNode.Peer::raftAddress)
                .findFirst().orElseThrow();
        Command register = command(stateMachine.state()).setRegisterInstance(MemberRegistry.registration(id, raftAddress,
                fileApiAddresses().getOrDefault(id, ""), true)).build();
        CommandResult result;
        try {
            result = submit.apply(register).get(RaftNode.SUBMIT_TIMEOUT_SECONDS + 2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AdminException(AdminException.Kind.UNAVAILABLE, "interrupted");
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "instance " + id + " is not registered"
                    + " yet, and registering it failed: " + e + "; try again");
        }
        if (!result.getApplied() && stateMachine.state().getInstancesList().stream().noneMatch(i -> i.getId().equals(id))) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "instance " + id + " is not registered"
                    + " yet: " + result.getRejection() + "; try again");
        }
    }

    /**
     * This leader removes itself: it hands the leadership to a reachable member first, so the group has a leader
     * at once rather than after an election timeout (lease round trips in between would wait). The change then goes
     * to the new leader; without a handover Ratis still steps the removed leader down, only later.
     */
    private String handOver(List<String> reachable) {
        for (String to : reachable) {
            try {
                raft.transferLeadership(to, Duration.ofSeconds(5));
                LOG.info("leadership handed to {} before this instance leaves the group", to);
                return to;
            } catch (java.io.IOException e) {
                LOG.info("handing the leadership to {} failed: {}", to, e.getMessage());
            }
        }
        return raft.selfId();
    }

    /** The configuration, when this instance leads and no change is under way; refused otherwise, saying whom to ask. */
    private RaftNode.Conf leaderConf() {
        if (!raft.isLeader()) {
            String leader = raft.leaderId().orElse(null);
            String at = leader == null ? "" : view().stream().filter(m -> m.getId().equals(leader))
                    .map(Member::getGrpcAddress).filter(a -> !a.isEmpty()).findFirst().map(a -> " at " + a).orElse("");
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, NOT_LEADER + (leader == null
                    ? "no leader is known now; try again" : "ask " + leader + at));
        }
        RaftNode.Conf conf = raft.conf();
        if (conf.transitional()) {
            throw new AdminException(AdminException.Kind.FAILED_PRECONDITION, "a change of the Raft configuration is"
                    + " under way (" + conf.previous().size() + " -> " + conf.current().size() + " members); try again"
                    + " once it is committed");
        }
        return conf;
    }

    /** How a refusal from a follower begins: a client tries the next endpoint on it. */
    static final String NOT_LEADER = "not the Raft leader: membership changes are made by the leader; ";

    private MutationResponse answer(String message) {
        return MutationResponse.newBuilder().setApplied(true).setEpoch(stateMachine.state().getEpoch())
                .setLeaderId(raft.leaderId().orElse("")).setMessage(message).build();
    }
}

package io.metako.server.state;

import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.PeerConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.DivisionInfo;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.TimeDuration;

/**
 * This instance's Raft peer and its client into the group. The group id is derived from the
 * cluster name, so every instance configured with the same name and peers joins the same group.
 * The first start formats the storage; later starts recover the log and the latest snapshot.
 */
public final class RaftNode implements AutoCloseable {
    /** How long a command may take to commit before its submission counts as failed. */
    public static final long SUBMIT_TIMEOUT_SECONDS = 8;

    /** How long a lease round trip may take before it counts as failed. */
    private static final long LEASE_ROUND_TRIP_SECONDS = 2;

    /** Entries between automatic snapshots. */
    public static final long SNAPSHOT_THRESHOLD = 1000;

    private final MetakoStateMachine stateMachine;
    private final RaftGroup group;
    private final RaftPeerId selfId;
    private final RaftServer server;
    private final org.apache.ratis.conf.Parameters tls;
    /** Signs this instance's commands when the Raft links run under mutual TLS; null otherwise. */
    private final CommandSigner signer;
    private volatile RaftClient client;
    /** The last sequence number this instance's signed commands used ({@link #nextSequence}). */
    private final java.util.concurrent.atomic.AtomicLong sequence =
            new java.util.concurrent.atomic.AtomicLong(System.currentTimeMillis() * 1000);
    /** For lease round trips: one attempt each, so an answer never comes from a retry sent later. */
    private volatile RaftClient leaseClient;
    private final java.util.concurrent.ExecutorService sender =
            java.util.concurrent.Executors.newCachedThreadPool(io.metako.server.DaemonThreads.named("raft-submit"));

    /** Present while a --join instance has not been added yet (kept across restarts). */
    private final Path joinMarker;
    private volatile boolean running;

    /** This instance has been a voting member of the group since it started (a joining one is not, until added). */
    private volatile boolean wasVoter;
    /** The peers the Raft clients were last built for. */
    private volatile java.util.Set<RaftPeer> clientPeers;

    public RaftNode(MetakoConfig config, MetakoStateMachine stateMachine) throws IOException {
        this(config, stateMachine, config.security().raftTlsEnabled() ? io.metako.server.tls.InstanceCertificate.load(
                config.security().certFile(), config.security().keyFile()) : null, false);
    }

    /**
     * {@code certificate}: what the Raft links present and commands are signed with (null: Raft TLS off).
     * {@code join}: on empty storage, start outside any configuration and wait to be added ({@code metakoctl members
     * add}) instead of forming a group with the file's peers; ignored once the storage holds a log.
     */
    public RaftNode(MetakoConfig config, MetakoStateMachine stateMachine,
                    io.metako.server.tls.InstanceCertificate certificate, boolean join) throws IOException {
        this.stateMachine = stateMachine;
        this.selfId = RaftPeerId.valueOf(config.instance().id());
        this.group = groupOf(config);
        Path storage = config.instance().storageDir().resolve("raft");
        Files.createDirectories(storage);
        RaftProperties props = properties(config, storage);
        this.tls = tlsParameters(config, certificate);
        java.util.Set<String> filePeers = java.util.Set.copyOf(config.peers().stream().map(PeerConfig::id).toList());
        // a member of the file, of the Raft configuration, or registered in the log (an instance being added)
        // whose commands count (checked by the leader): once a configuration is known, the configuration's and the
        // registered instances, no longer the file's (one of them may have been removed)
        this.signer = certificate == null ? null : CommandSigner.of(config.security(), certificate, id -> {
            Conf c = conf();
            return c.current().isEmpty() ? filePeers.contains(id) : c.ids().contains(id) || registered(id);
        });
        if (signer != null) {
            stateMachine.requireSignedCommands(signer);
            // who may connect: the file's peers too, since an instance catching up (after a restart, or joining)
            // must accept a leader that was added after what its log holds
            GrpcConfigKeys.Server.setServicesCustomizer(tls, new RaftPeerGate(signer,
                    id -> filePeers.contains(id) || conf().ids().contains(id) || registered(id)));
        }
        boolean fresh = isEmpty(storage);
        // a joining instance restarted before it was added must still wait, not form a group from the file
        this.joinMarker = config.instance().storageDir().resolve("join-pending");
        if (fresh && join) {
            Files.writeString(joinMarker, "started with --join; waiting to be added (metakoctl members add)\n");
        }
        boolean joining = Files.exists(joinMarker);
        this.server = RaftServer.newBuilder().setServerId(selfId)
                .setGroup(joining ? RaftGroup.valueOf(group.getGroupId()) : group).setProperties(props)
                .setParameters(tls).setStateMachine(stateMachine)
                .setOption(fresh ? RaftStorage.StartupOption.FORMAT : RaftStorage.StartupOption.RECOVER)
                .build();
        this.clientPeers = java.util.Set.copyOf(group.getPeers());
        this.client = newClient(group, tls);
        this.leaseClient = newLeaseClient(group, tls);
    }

    private boolean registered(String id) {
        return stateMachine.state().getInstancesList().stream().anyMatch(i -> i.getId().equals(id));
    }

    /** One member of the Raft configuration. */
    public record Peer(String id, String raftAddress) {
    }

    /**
     * The Raft configuration this peer knows (the latest it has, committed or not): {@code current}, and during a
     * change the {@code previous} one too. Empty before the server runs or while a joining instance waits to be added.
     */
    public record Conf(List<Peer> current, List<Peer> previous) {
        public static final Conf NONE = new Conf(List.of(), List.of());

        /** Every member of either configuration. */
        public java.util.Set<String> ids() {
            java.util.Set<String> ids = new java.util.TreeSet<>();
            current.forEach(p -> ids.add(p.id()));
            previous.forEach(p -> ids.add(p.id()));
            return ids;
        }

        public boolean transitional() {
            return !previous.isEmpty();
        }

        public boolean has(String id) {
            return current.stream().anyMatch(p -> p.id().equals(id));
        }
    }

    public Conf conf() {
        try {
            var c = server.getDivision(group.getGroupId()).getRaftConf();
            return new Conf(peers(c.getCurrentPeers()), peers(c.getPreviousPeers()));
        } catch (IOException | RuntimeException e) {
            return Conf.NONE;
        }
    }

    private static List<Peer> peers(java.util.Collection<RaftPeer> peers) {
        return peers.stream().map(p -> new Peer(p.getId().toString(), p.getAddress()))
                .sorted(java.util.Comparator.comparing(Peer::id)).toList();
    }

    /** This instance votes in the group's configuration now. */
    public boolean voter() {
        boolean voter = conf().has(selfId.toString());
        if (voter && !wasVoter && committedConfiguration()) {
            wasVoter = true;
            try {
                Files.deleteIfExists(joinMarker);
            } catch (IOException e) {
                wasVoter = false; // tried again at the next call
            }
        }
        return voter;
    }

    /** The configuration this peer knows is committed (not one appended that a new leader may still truncate). */
    private boolean committedConfiguration() {
        try {
            var division = server.getDivision(group.getGroupId());
            return division.getRaftConf().getLogEntryIndex() <= division.getRaftLog().getLastCommittedIndex();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The Raft term this peer is in (0 when unknown). */
    public long currentTerm() {
        try {
            return info().getCurrentTerm();
        } catch (IOException e) {
            return 0;
        }
    }

    /** The Raft server runs. */
    public boolean started() {
        return running;
    }

    /**
     * This instance knows a configuration and is not in it: removed (before or since it started), or a joining
     * instance catching up before the configuration with it arrives. Nothing it proposes counts.
     */
    public boolean outside() {
        Conf c = conf();
        return !c.current().isEmpty() && !c.has(selfId.toString());
    }

    /** This instance was a voting member and is not any more: taken out of the group ({@code members remove}). */
    public boolean removed() {
        return !voter() && wasVoter;
    }

    /**
     * Changes the Raft configuration from {@code current} to {@code next} (compare-and-set: refused when the group's
     * configuration is no longer {@code current}); waits up to {@code timeout} for the new one to be committed. A
     * peer added must be running (started with {@code --join}): the leader first brings it up to date.
     */
    public void changeConfiguration(List<Peer> current, List<Peer> next, java.time.Duration timeout) throws IOException {
        changeConfiguration(current, next, timeout, leaderId().orElse(null));
    }

    /** Likewise, asking {@code leader} first (the member this one just handed its leadership to). */
    public void changeConfiguration(List<Peer> current, List<Peer> next, java.time.Duration timeout, String leader)
            throws IOException {
        try (RaftClient admin = adminClient(timeout, leader)) {
            RaftClientReply reply = admin.admin().setConfiguration(
                    org.apache.ratis.protocol.SetConfigurationRequest.Arguments.newBuilder()
                            .setServersInCurrentConf(raftPeers(current)).setServersInNewConf(raftPeers(next))
                            .setMode(org.apache.ratis.protocol.SetConfigurationRequest.Mode.COMPARE_AND_SET).build());
            if (!reply.isSuccess()) {
                throw new IOException(reply.getException() == null ? "the configuration change was not committed"
                        : reply.getException().getMessage());
            }
        }
        refreshClients();
    }

    /**
     * Hands the leadership to {@code to} (it must be up to date): a leader about to remove itself does so first, so
     * that the group has a leader at once instead of after an election timeout.
     */
    public void transferLeadership(String to, java.time.Duration timeout) throws IOException {
        try (RaftClient admin = adminClient(timeout, selfId.toString())) {
            RaftClientReply reply = admin.admin().transferLeadership(RaftPeerId.valueOf(to), timeout.toMillis());
            if (!reply.isSuccess()) {
                throw new IOException(reply.getException() == null ? "the leadership was not transferred"
                        : reply.getException().getMessage());
            }
        }
    }

    /**
     * A client for one administrative request that may take {@code timeout}, sent to {@code leader} first (null:
     * whoever it finds); retried twice (to the leader a refusal names; a repeat keeps its call id, and the server's
     * retry cache answers it with the first one's outcome), so it may take three times {@code timeout}.
     */
    private RaftClient adminClient(java.time.Duration timeout, String leader) {
        RaftProperties clientProps = new RaftProperties();
        RaftConfigKeys.Rpc.setType(clientProps, SupportedRpcType.GRPC);
        RaftClientConfigKeys.Rpc.setRequestTimeout(clientProps, TimeDuration.valueOf(timeout.toMillis(), TimeUnit.MILLISECONDS));
        RaftClient.Builder b = RaftClient.newBuilder().setProperties(clientProps).setRaftGroup(clientGroup())
                .setParameters(tls).setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(2,
                        TimeDuration.valueOf(200, TimeUnit.MILLISECONDS)));
        if (leader != null) {
            b.setLeaderId(RaftPeerId.valueOf(leader));
        }
        return b.build();
    }

    private static List<RaftPeer> raftPeers(List<Peer> peers) {
        return peers.stream().map(p -> RaftPeer.newBuilder().setId(p.id()).setAddress(p.raftAddress()).build()).toList();
    }

    /** The file's peers and those of the configuration now: a client finds the leader among them. */
    private RaftGroup clientGroup() {
        java.util.Map<String, RaftPeer> peers = new java.util.TreeMap<>();
        group.getPeers().forEach(p -> peers.put(p.getId().toString(), p));
        for (Peer p : conf().current()) {
            peers.put(p.id(), RaftPeer.newBuilder().setId(p.id()).setAddress(p.raftAddress()).build());
        }
        return RaftGroup.valueOf(group.getGroupId(), peers.values());
    }

    /**
     * The configuration changed: the Raft clients are built again when its peers are not the ones they know (else
     * a group whose original members have all been replaced would leave them nobody to ask). The old clients are
     * closed once what they carry has timed out.
     */
    public synchronized void refreshClients() {
        RaftGroup g = clientGroup();
        java.util.Set<RaftPeer> peers = java.util.Set.copyOf(g.getPeers());
        if (peers.equals(clientPeers) || sender.isShutdown()) {
            return;
        }
        clientPeers = peers;
        RaftClient oldClient = client;
        RaftClient oldLease = leaseClient;
        client = newClient(g, tls);
        leaseClient = newLeaseClient(g, tls);
        sender.execute(() -> {
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(SUBMIT_TIMEOUT_SECONDS + 2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            closeQuietly(oldClient);
            closeQuietly(oldLease);
        });
    }

    private static void closeQuietly(RaftClient c) {
        try {
            c.close();
        } catch (IOException ignored) {
            // replaced already
        }
    }

    private static RaftClient newLeaseClient(RaftGroup group, org.apache.ratis.conf.Parameters tls) {
        RaftProperties clientProps = new RaftProperties();
        RaftConfigKeys.Rpc.setType(clientProps, SupportedRpcType.GRPC);
        RaftClientConfigKeys.Rpc.setRequestTimeout(clientProps, TimeDuration.valueOf(2, TimeUnit.SECONDS));
        return RaftClient.newBuilder().setProperties(clientProps).setRaftGroup(group).setParameters(tls)
                .setRetryPolicy(RetryPolicies.noRetry()).build();
    }

    private static RaftClient newClient(RaftGroup group, org.apache.ratis.conf.Parameters tls) {
        RaftProperties clientProps = new RaftProperties();
        RaftConfigKeys.Rpc.setType(clientProps, SupportedRpcType.GRPC);
        RaftClientConfigKeys.Rpc.setRequestTimeout(clientProps, TimeDuration.valueOf(3, TimeUnit.SECONDS));
        return RaftClient.newBuilder().setProperties(clientProps).setRaftGroup(group).setParameters(tls)
                .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(10,
                        TimeDuration.valueOf(200, TimeUnit.MILLISECONDS)))
                .build();
    }

    public static RaftGroup groupOf(MetakoConfig config) {
        RaftGroupId gid = RaftGroupId.valueOf(
                UUID.nameUUIDFromBytes(("pg-metako/" + config.clusterName()).getBytes(StandardCharsets.UTF_8)));
        List<RaftPeer> peers = config.peers().stream().map(RaftNode::peerOf).toList();
        return RaftGroup.valueOf(gid, peers);
    }

    private static RaftPeer peerOf(PeerConfig p) {
        // Raft clients reach a peer at its Raft address too; the admin API is a separate server.
        return RaftPeer.newBuilder().setId(p.id()).setAddress(p.raftAddress().toString()).build();
    }

    private static RaftProperties properties(MetakoConfig config, Path storage) {
        RaftProperties props = new RaftProperties();
        RaftConfigKeys.Rpc.setType(props, SupportedRpcType.GRPC);
        GrpcConfigKeys.Server.setPort(props, config.instance().raftAddress().port());
        GrpcConfigKeys.Server.setHost(props, config.instance().raftAddress().host());
        RaftServerConfigKeys.setStorageDir(props, List.of(storage.toFile()));
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(props, true);
        // metako.raft.compact_every (a JVM system property, for tests): a snapshot every N entries, in small log
        // segments, and the log dropped up to each snapshot, so that a member added or far behind receives the
        // state by Ratis' InstallSnapshot rather than by replaying the log
        long compactEvery = Long.getLong("metako.raft.compact_every", 0);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(props, compactEvery > 0 ? compactEvery : SNAPSHOT_THRESHOLD);
        if (compactEvery > 0) {
            // Ratis wants write buffer >= appender byte limit + 8, and snapshot chunks within the appender's limit
            RaftServerConfigKeys.Log.setSegmentSizeMax(props, org.apache.ratis.util.SizeInBytes.valueOf("4KB"));
            RaftServerConfigKeys.Log.setWriteBufferSize(props, org.apache.ratis.util.SizeInBytes.valueOf("4KB"));
            RaftServerConfigKeys.Log.setPreallocatedSize(props, org.apache.ratis.util.SizeInBytes.valueOf("4KB"));
            RaftServerConfigKeys.Log.Appender.setBufferByteLimit(props, org.apache.ratis.util.SizeInBytes.valueOf("2KB"));
            RaftServerConfigKeys.Log.Appender.setSnapshotChunkSizeMax(props, org.apache.ratis.util.SizeInBytes.valueOf("1KB"));
            RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(props, true);
            RaftServerConfigKeys.Log.setPurgeGap(props, 1);
        }
        RaftServerConfigKeys.Snapshot.setRetentionFileNum(props, 2);
        RaftServerConfigKeys.Rpc.setTimeoutMin(props, TimeDuration.valueOf(300, TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Rpc.setTimeoutMax(props, TimeDuration.valueOf(600, TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Read.setOption(props, RaftServerConfigKeys.Read.Option.LINEARIZABLE);
        return props;
    }

    /**
     * Mutual TLS on every Raft link ({@code security.raft_tls_enabled}): each instance presents its {@code cert_file}
     * and accepts only peers and clients whose certificate {@code raft_ca_file} signed, so a stranger that reaches a
     * Raft port can submit nothing; {@link RaftPeerGate} then admits only the group's members among those.
     * Empty parameters (plaintext) when off.
     */
    static org.apache.ratis.conf.Parameters tlsParameters(MetakoConfig config,
                                                          io.metako.server.tls.InstanceCertificate certificate)
            throws IOException {
        org.apache.ratis.conf.Parameters p = new org.apache.ratis.conf.Parameters();
        var sec = config.security();
        if (sec.raftTlsEnabled()) {
            // the key manager, not the files: a reload that renews the certificate reaches the next handshake
            org.apache.ratis.grpc.GrpcTlsConfig tls = new org.apache.ratis.grpc.GrpcTlsConfig(certificate.keyManager(),
                    io.metako.server.tls.InstanceCertificate.trusting(sec.raftCa()), true);
            GrpcConfigKeys.Server.setTlsConf(p, tls);
            GrpcConfigKeys.Client.setTlsConf(p, tls);
            GrpcConfigKeys.Admin.setTlsConf(p, tls);
        }
        return p;
    }

    /**
     * Why the other instances would refuse {@code certificate} on the Raft links and in command signatures (not the
     * cluster CA's, not named for this instance, not an instance certificate, expired), or null when they would accept
     * it or Raft TLS is off: a reload checks a renewed certificate with it before using it.
     */
    public String refusalOf(java.security.cert.X509Certificate certificate) {
        if (signer == null) {
            return null;
        }
        try {
            String member = signer.member(certificate);
            return member.equals(selfId.toString()) ? null : "it names instance '" + member + "', not " + selfId;
        } catch (java.security.GeneralSecurityException e) {
            return e.getMessage();
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (var entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        }
    }

    public void start() throws IOException {
        server.start();
        running = true;
    }

    public MetakoStateMachine stateMachine() {
        return stateMachine;
    }

    public RaftGroup group() {
        return group;
    }

    public String selfId() {
        return selfId.toString();
    }

    /** Replicates {@code command}; completes with the state machine's verdict on it. */
    public CompletableFuture<CommandResult> submit(Command command) {
        Message msg = Message.valueOf(ByteString.copyFrom(signer == null ? command.toByteArray()
                : signer.sign(command.toBuilder().setSequence(nextSequence()).build())));
        RaftClient c = client;
        // Not the ordered async API: its replies come back in submission order, so one request whose
        // reply never came (seen in tests: an acknowledgement applied but never answered) held up every
        // later verdict and acknowledgement of this instance. Blocking sends are independent of each other.
        return CompletableFuture.supplyAsync(() -> {
            try {
                return resultOf(c.io().send(msg));
            } catch (org.apache.ratis.protocol.exceptions.StateMachineException e) {
                // the leader's check refused the command before it entered the log: an answer, not a failure
                String why = e.getMessage() == null ? "refused" : e.getMessage();
                int at = why.indexOf("rejected: ");
                return CommandResult.newBuilder().setApplied(false)
                        .setRejection(at >= 0 ? why.substring(at + "rejected: ".length()) : why).build();
            } catch (IOException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, sender).orTimeout(SUBMIT_TIMEOUT_SECONDS, TimeUnit.SECONDS).whenComplete((r, e) -> {
            if (e != null && !(e instanceof java.util.concurrent.TimeoutException)) {
                replaceClient(c);
            }
        });
    }

    /**
     * The next sequence number of this instance's signed commands: above the last one used, above the highest the
     * replicated state recorded for this instance (after a restart, once it has caught up), and started from the
     * wall clock in microseconds, so that a restart before catching up normally starts above the old ones too.
     */
    private long nextSequence() {
        long recorded = CommandSequences.highest(stateMachine.state(), selfId.toString());
        return sequence.updateAndGet(last -> Math.max(last, recorded) + 1);
    }

    private synchronized void replaceLeaseClient(RaftClient failed) {
        if (leaseClient == failed) {
            leaseClient = newLeaseClient(clientGroup(), tls);
            try {
                failed.close();
            } catch (IOException ignored) {
                // it has failed already
            }
        }
    }

    /** A Ratis client whose retries ran out stays closed; the next submit gets a fresh one. */
    private synchronized void replaceClient(RaftClient failed) {
        if (client != failed) {
            return;
        }
        client = newClient(clientGroup(), tls);
        try {
            failed.close();
        } catch (IOException ignored) {
            // it has failed already
        }
    }

    private static CommandResult resultOf(RaftClientReply reply) {
        if (!reply.isSuccess()) {
            String why = reply.getException() == null ? "not committed" : reply.getException().getMessage();
            return CommandResult.newBuilder().setApplied(false).setRejection(why).build();
        }
        try {
            return CommandResult.parseFrom(reply.getMessage().getContent().toByteArray());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            return CommandResult.newBuilder().setApplied(false).setRejection("unreadable reply").build();
        }
    }

    /**
     * A ReadIndex round trip through this peer: it asks the leader for its commit index (the leader
     * confirms its leadership with a majority first), waits until it has applied that far, and
     * completes with the epoch it has applied then. Fails when there is no leader, no majority, or
     * this peer is behind. The caller measures the time it sent this: see {@code LeaseKeeper}.
     */
    public CompletableFuture<Long> confirmEpoch() {
        RaftClient c = leaseClient;
        CompletableFuture<RaftClientReply> sent;
        try {
            // unordered: the ordered API holds every later request behind one that failed, so the lease
            // would never be renewed again; bounded, because an answer that comes late grants nothing
            sent = c.async().sendReadOnlyUnordered(Message.EMPTY, selfId);
        } catch (RuntimeException e) {
            // c may have been closed a moment ago by a failed round trip replacing it (several are in flight)
            return CompletableFuture.failedFuture(e);
        }
        return sent.orTimeout(LEASE_ROUND_TRIP_SECONDS, TimeUnit.SECONDS)
                .whenComplete((r, e) -> {
                    if (e != null && !sender.isShutdown()) {
                        sender.execute(() -> replaceLeaseClient(c)); // closing may wait: not on gRPC's thread
                    }
                }).thenApply(reply -> {
                    if (!reply.isSuccess()) {
                        throw new java.util.concurrent.CompletionException(reply.getException() != null
                                ? reply.getException() : new IOException("read not confirmed"));
                    }
                    return reply.getMessage().getContent().asReadOnlyByteBuffer().getLong();
                });
    }

    /** Forces a snapshot now (used by operators and tests). */
    public long snapshot() throws IOException {
        RaftClientReply reply = client.getSnapshotManagementApi(selfId).create(true, 10_000);
        if (!reply.isSuccess()) {
            throw new IOException("snapshot failed: " + reply.getException());
        }
        return reply.getLogIndex();
    }

    /** The index of the last log entry this peer knows committed. */
    public long commitIndex() throws IOException {
        return server.getDivision(group.getGroupId()).getRaftLog().getLastCommittedIndex();
    }

    public DivisionInfo info() throws IOException {
        return server.getDivision(group.getGroupId()).getInfo();
    }

    public Optional<String> leaderId() {
        try {
            RaftPeerId leader = info().getLeaderId();
            return Optional.ofNullable(leader).map(RaftPeerId::toString);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * On the leader: the followers it has had no RPC with for longer than {@code millis} (Ratis' own
     * measure: any traffic counts, so this says "dead or cut off", never "fenced"). Empty elsewhere.
     */
    public java.util.Set<String> unresponsiveFollowers(long millis) {
        java.util.Set<String> silent = new java.util.HashSet<>();
        try {
            if (!info().isLeader()) {
                return silent;
            }
            for (var f : info().getRoleInfoProto().getLeaderInfo().getFollowerInfoList()) {
                if (f.getLastRpcElapsedTimeMs() > millis) {
                    silent.add(f.getId().getId().toStringUtf8());
                }
            }
        } catch (IOException e) {
            return silent;
        }
        return silent;
    }

    public boolean isLeader() {
        try {
            return info().isLeader();
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void close() throws IOException {
        sender.shutdownNow();
        try {
            leaseClient.close();
            client.close();
        } finally {
            server.close();
        }
    }
}

package io.metako.server.state;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import java.io.File;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.exceptions.StateMachineException;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Ratis state machine holding the {@link ClusterState}. The whole state is one immutable
 * value swapped on apply; commands are validated in {@link #startTransaction} so bad ones never
 * reach the log, and applied by the pure {@link ClusterTransitions}. A snapshot is the state as
 * protobuf, named by term and index.
 */
public final class MetakoStateMachine extends BaseStateMachine {
    private static final Logger LOG = LoggerFactory.getLogger(MetakoStateMachine.class);

    /** The state together with the log position it reflects, so snapshots are consistent. */
    private record Applied(ClusterState state, TermIndex at) {
    }

    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    private final List<Consumer<ClusterState>> listeners = new CopyOnWriteArrayList<>();
    private volatile Applied applied = new Applied(ClusterState.getDefaultInstance(), null);

    public ClusterState state() {
        return applied.state();
    }

    /** Called after every applied change of the state (on Ratis' apply thread: keep it short). */
    public void addListener(Consumer<ClusterState> listener) {
        listeners.add(listener);
    }

    public void removeListener(Consumer<ClusterState> listener) {
        listeners.remove(listener);
    }


    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
        super.initialize(server, groupId, raftStorage);
        storage.init(raftStorage);
        loadSnapshot(storage.loadLatestSnapshot());
    }

    /**
     * Before Ratis installs a snapshot from the leader (a member far behind, or one just added to a group whose log
     * was compacted): its updater reloads the state machine only from PAUSED, and closes the division otherwise.
     */
    @Override
    public void pause() {
        org.apache.ratis.util.LifeCycle life = getLifeCycle();
        if (life.getCurrentState() == org.apache.ratis.util.LifeCycle.State.NEW) {
            life.transition(org.apache.ratis.util.LifeCycle.State.STARTING);
            life.transition(org.apache.ratis.util.LifeCycle.State.RUNNING);
        }
        if (life.getCurrentState() == org.apache.ratis.util.LifeCycle.State.RUNNING) {
            life.transition(org.apache.ratis.util.LifeCycle.State.PAUSING);
            life.transition(org.apache.ratis.util.LifeCycle.State.PAUSED);
        }
    }

    /** After Ratis installed a snapshot: the state is the snapshot's, and the state machine runs again. */
    @Override
    public void reinitialize() throws IOException {
        loadSnapshot(storage.loadLatestSnapshot());
        org.apache.ratis.util.LifeCycle life = getLifeCycle();
        if (life.getCurrentState() == org.apache.ratis.util.LifeCycle.State.PAUSED) {
            life.transition(org.apache.ratis.util.LifeCycle.State.STARTING);
            life.transition(org.apache.ratis.util.LifeCycle.State.RUNNING);
        }
    }

    @Override
    public SimpleStateMachineStorage getStateMachineStorage() {
        return storage;
    }

    /** With mutual TLS on the Raft links: every command must be signed (see {@link CommandSigner}); null: plain. */
    private volatile CommandSigner signatures;

    /** Called after a Raft configuration entry is applied (a member added or removed); null: nobody listens. */
    private volatile Runnable configurationListener;

    /** {@code listener} runs after every change of the Raft configuration this peer applies. */
    public void onConfigurationChanged(Runnable listener) {
        this.configurationListener = listener;
    }

    @Override
    public void notifyConfigurationChanged(long term, long index,
                                           org.apache.ratis.proto.RaftProtos.RaftConfigurationProto newConf) {
        Runnable l = configurationListener;
        if (l != null) {
            l.run();
        }
    }

    /** Requires signed commands from now on, verified by {@code verifier} (the leader checks them before they enter the log). */
    public void requireSignedCommands(CommandSigner verifier) {
        this.signatures = verifier;
    }

    @Override
    public TransactionContext startTransaction(RaftClientRequest request) throws IOException {
        ByteString data = request.getMessage().getContent();
        TransactionContext.Builder trx = TransactionContext.newBuilder().setStateMachine(this)
                .setClientRequest(request).setLogData(data);
        CommandSigner verifier = signatures;
        if (verifier != null) {
            // the log keeps the plain command: apply (and every replica's state) stays as without signatures
            try {
                Command command = verifier.verify(data.toByteArray());
                String identity = identityProblem(command);
                if (identity != null) {
                    throw new java.security.GeneralSecurityException(identity);
                }
                data = ByteString.copyFrom(command.toByteArray());
                trx.setLogData(data);
            } catch (java.security.GeneralSecurityException e) {
                LOG.warn("refused a Raft command: {}", e.getMessage());
                TransactionContext ctx = trx.build();
                ctx.setException(new StateMachineException("refused: " + e.getMessage()));
                return ctx;
            }
        }
        try {
            Command command = Command.parseFrom(data.toByteArray());
            ClusterTransitions.Outcome check = ClusterTransitions.apply(state(), command, 0);
            TransactionContext ctx = trx.build();
            if (!check.applied()) {
                ctx.setException(new StateMachineException("rejected: " + check.rejection()));
            }
            return ctx;
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            TransactionContext ctx = trx.build();
            ctx.setException(new StateMachineException("not a metako command: " + e.getMessage()));
            return ctx;
        }
    }

    /**
     * Why a command signed by its proposer still may not count: an acknowledgement or a verdict in another
     * instance's name, or a controller's command (it carries a proposer term) from anyone but this leader.
     */
    private String identityProblem(Command c) {
        if (c.hasEpochAck() && !c.getEpochAck().getInstanceId().equals(c.getProposer())) {
            return c.getProposer() + " acknowledged in the name of " + c.getEpochAck().getInstanceId();
        }
        if (c.hasReportVerdict() && !c.getReportVerdict().getInstanceId().equals(c.getProposer())) {
            return c.getProposer() + " reported a verdict in the name of " + c.getReportVerdict().getInstanceId();
        }
        boolean controllerOnly = c.hasFailoverCompleted() || c.hasFailoverRetargeted() || c.hasSetSynchronousStandbys()
                || c.hasRejoinCompleted() || c.hasRetireInstance();
        if (controllerOnly && c.getProposerTerm() == 0) {
            return c.getKindCase() + " comes only from the leader's controller, with its term";
        }
        if (c.getProposerTerm() != 0 && !c.getProposer().equals(getId().toString())) {
            return c.getProposer() + " sent a controller's command, but " + getId() + " leads";
        }
        if (c.getSequence() <= 0) {
            return "a signed command must carry a sequence number from 1 to 2^63 - 1 (replay protection)";
        }
        return null;
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        TermIndex at = TermIndex.valueOf(entry.getTerm(), entry.getIndex());
        CommandResult.Builder result = CommandResult.newBuilder().setLogIndex(entry.getIndex());
        ClusterState before = state();
        ClusterState after = before;
        ClusterState changed = before;
        try {
            Command command = Command.parseFrom(entry.getStateMachineLogEntry().getLogData().toByteArray());
            boolean replayed = CommandSequences.replay(before, command) != null;
            ClusterTransitions.Outcome outcome = ClusterTransitions.apply(before, command, entry.getTerm());
            changed = outcome.state();
            // a command's sequence number counts as used even when the command was rejected: it may not come back
            // later, when it could apply
            after = replayed ? changed : CommandSequences.record(changed, command);
            result.setApplied(outcome.applied()).setRejection(outcome.rejection());
            if (!outcome.applied()) {
                LOG.info("command rejected at index {}: {}", entry.getIndex(), outcome.rejection());
            }
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            result.setApplied(false).setRejection("not a metako command");
        } catch (RuntimeException e) {
            // a bug met by a committed entry: every replica meets it the same way, so all reject it alike, and the
            // apply thread (which Ratis would lose, on every restart again) goes on
            LOG.error("command at index {} could not be applied; rejected", entry.getIndex(), e);
            after = before;
            changed = before;
            result.setApplied(false).setRejection("could not be applied: " + e);
        }
        synchronized (this) {
            applied = new Applied(after, at);
            updateLastAppliedTermIndex(at.getTerm(), at.getIndex());
        }
        if (changed != before) { // not for a recorded sequence number alone
            for (Consumer<ClusterState> l : listeners) {
                l.accept(after);
            }
        }
        result.setEpoch(after.getEpoch());
        return CompletableFuture.completedFuture(Message.valueOf(ByteString.copyFrom(result.build().toByteArray())));
    }

    /**
     * A read through the log's ReadIndex: answered once this peer has applied everything the leader
     * had committed when it confirmed the read. The answer is the epoch applied then (8 bytes), which
     * is what the write lease is renewed for ({@link RaftNode#confirmEpoch}).
     */
    @Override
    public CompletableFuture<Message> query(Message request) {
        long epoch = state().getEpoch();
        return CompletableFuture.completedFuture(Message.valueOf(ByteString.copyFrom(
                java.nio.ByteBuffer.allocate(Long.BYTES).putLong(epoch).array())));
    }

    @Override
    public long takeSnapshot() throws IOException {
        Applied snap;
        TermIndex last;
        synchronized (this) {
            snap = applied;
            last = getLastAppliedTermIndex();
        }
        if (last == null) {
            return -1;
        }
        File file = storage.getSnapshotFile(last.getTerm(), last.getIndex());
        SnapshotFile.write(file, snap.state());
        storage.loadLatestSnapshot();
        LOG.info("snapshot taken at term {} index {} (epoch {})", last.getTerm(), last.getIndex(), snap.state().getEpoch());
        return last.getIndex();
    }

    private void loadSnapshot(SingleFileSnapshotInfo snapshot) throws IOException {
        if (snapshot == null) {
            return;
        }
        File file = snapshot.getFile().getPath().toFile();
        ClusterState restored = SnapshotFile.read(file);
        synchronized (this) {
            applied = new Applied(restored, snapshot.getTermIndex());
            updateLastAppliedTermIndex(snapshot.getTermIndex().getTerm(), snapshot.getTermIndex().getIndex());
        }
        LOG.info("state restored from snapshot at term {} index {} (epoch {})", snapshot.getTerm(),
                snapshot.getIndex(), restored.getEpoch());
    }
}

package io.metako.server.routing;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.CommandResult;
import io.metako.proto.v1.EpochAck;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Acknowledges a new epoch for this instance, once that is true: the failover waits for every instance's
 * {@code EpochAck} (or a lease of silence) before it promotes. The lease of the old epoch ended when the new one
 * was applied, and the proxy asks the lease for every unit and every answer; once each of the proxy's event loops
 * has finished what it was doing, nothing routed under the old epoch can go out any more, and only then is the
 * acknowledgement sent. An acknowledgement without an answer is sent again after two seconds (it is idempotent).
 */
public final class EpochAcknowledger {
    private static final Logger LOG = LoggerFactory.getLogger(EpochAcknowledger.class);
    private static final long RESEND_NANOS = TimeUnit.SECONDS.toNanos(2);

    private final String instanceId;
    private final Supplier<ClusterState> state;
    private final Function<Command, CompletableFuture<CommandResult>> submit;
    private final Clock clock;
    private final Runnable refreshRouting;
    private final Supplier<ProxyPorts> proxyPorts;
    /** System.nanoTime() when the acknowledgement in flight went out; 0 when none is. */
    private volatile long sentAt;

    /** {@code proxyPorts}: this instance's proxy (null before it opened): its event loops are drained first. */
    public EpochAcknowledger(String instanceId, Supplier<ClusterState> state,
                             Function<Command, CompletableFuture<CommandResult>> submit, Clock clock,
                             Runnable refreshRouting, Supplier<ProxyPorts> proxyPorts) {
        this.instanceId = instanceId;
        this.state = state;
        this.submit = submit;
        this.clock = clock;
        this.refreshRouting = refreshRouting;
        this.proxyPorts = proxyPorts;
    }

    /** Called on every control-loop tick and applied change: acknowledges the operation's epoch if still due. */
    public void tick() {
        ClusterState s = state.get();
        long now = System.nanoTime();
        if (!s.hasOperation() || s.getOperation().getAckedInstancesList().contains(instanceId) || now - sentAt <= RESEND_NANOS) {
            return;
        }
        if (sentAt != 0) {
            LOG.warn("acknowledgement of epoch {} unanswered for 2 s; sending it again", s.getEpoch());
        }
        sentAt = now;
        refreshRouting.run();
        ProxyPorts ports = proxyPorts.get();
        CompletableFuture<Void> drained = ports == null ? CompletableFuture.completedFuture(null) : ports.barrier();
        drained.orTimeout(RESEND_NANOS / 1_000_000, TimeUnit.MILLISECONDS).whenComplete((v, e) -> {
            if (e != null) {
                LOG.warn("epoch {} not acknowledged: the proxy's event loops did not drain within 2 s", s.getEpoch());
            } else {
                ack(s);
            }
        });
    }

    private void ack(ClusterState s) {
        Command cmd = Command.newBuilder().setEpoch(s.getEpoch()).setTimeMillis(clock.millis()).setProposer(instanceId)
                .setEpochAck(EpochAck.newBuilder().setInstanceId(instanceId)).build();
        submit.apply(cmd).whenComplete((r, e) -> {
            sentAt = 0; // answered: the next tick may send again at once if it still is not in the state
            if (e != null || !r.getApplied()) {
                LOG.info("epoch {} not acknowledged yet: {}", s.getEpoch(), e != null ? e : r.getRejection());
            }
        });
    }
}

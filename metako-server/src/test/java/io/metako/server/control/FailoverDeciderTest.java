package io.metako.server.control;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.FailoverSettings;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeTags;
import io.metako.proto.v1.Operation;
import io.metako.proto.v1.OperationStep;
import io.metako.proto.v1.TopologyEvent;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import io.metako.server.health.Lsn;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The failover decision as a table of one-sentence scenarios, the do-nothing ones included. */
class FailoverDeciderTest {
    static final long NOW = 1_000_000;
    static final List<String> MEMBERS = List.of("m1", "m2", "m3");

    /** A three-node cluster (pg-1 primary at epoch 4) as the leader sees it; each row changes it. */
    static final class World {
        ClusterState.Builder state = ClusterState.newBuilder().setSeeded(true).setEpoch(4).setPrimary("pg-1")
                .setSettings(ClusterSettings.newBuilder().setFailover(FailoverSettings.newBuilder()
                        .setMaximumLagOnFailoverBytes(16L << 20).setCooldownMillis(30_000)))
                .addNodes(node("pg-1", 5432, NodeRole.PRIMARY)).addNodes(node("pg-2", 5433, NodeRole.REPLICA))
                .addNodes(node("pg-3", 5434, NodeRole.REPLICA));
        final Map<String, NodeObservation> obs = new HashMap<>();
        final Set<String> silent = new HashSet<>();
        /** Every instance an epoch must be acknowledged by: the voters, and registered instances joining or leaving. */
        List<String> acknowledgers = MEMBERS;
        /** How long the deciding process has seen the last change of primary (its monotonic clock); -1 unknown. */
        long seenMillis = -1;
        /** Members the leader has heard nothing from for long (dead or cut off). */
        final Set<String> unresponsive = new HashSet<>();

        World() {
            obs.put("pg-1", NodeObservation.newBuilder().setReachable(true).setCurrentLsn("0/9000000").setTimeline(1).build());
            obs.put("pg-2", replica("0/9000000", 5432));
            obs.put("pg-3", replica("0/9000000", 5432));
            for (String n : List.of("pg-1", "pg-2", "pg-3")) {
                for (String m : MEMBERS) {
                    verdict(m, n, Verdict.UP);
                }
            }
        }

        static Node node(String name, int port, NodeRole role) {
            return Node.newBuilder().setName(name).setHost("127.0.0.1").setPort(port).setRole(role)
                    .setTags(NodeTags.getDefaultInstance()).build();
        }

        static NodeObservation replica(String lsn, int upstreamPort) {
            return NodeObservation.newBuilder().setReachable(true).setInRecovery(true).setReceiveLsn(lsn)
                    .setReplayLsn(lsn).setTimeline(1).setUpstreamHost("127.0.0.1").setUpstreamPort(upstreamPort)
                    .setWalReceiverStatus("streaming").setReceiverLastMessageAgeMillis(-1).build();
        }

        World verdict(String member, String node, Verdict v) {
            List<VerdictRecord> vs = new ArrayList<>(state.getVerdictsList());
            vs.removeIf(r -> r.getInstanceId().equals(member) && r.getNode().equals(node));
            vs.add(VerdictRecord.newBuilder().setInstanceId(member).setNode(node).setVerdict(v).build());
            state.clearVerdicts().addAllVerdicts(vs);
            return this;
        }

        World down(String node, String... members) {
            for (String m : members) {
                verdict(m, node, Verdict.DOWN);
            }
            return this;
        }

        World primaryDead() {
            down("pg-1", "m1", "m2", "m3");
            obs.put("pg-1", NodeObservation.newBuilder().setReachable(false).setCurrentLsn("0/9000000")
                    .setError("connection refused").build());
            return this;
        }

        World lsn(String node, String lsn) {
            obs.put(node, replica(lsn, 5432));
            return this;
        }

        /** Changes node {@code node} of the state. */
        World node(String node, UnaryOperator<Node.Builder> change) {
            List<Node> nodes = new ArrayList<>();
            for (Node n : state.getNodesList()) {
                nodes.add(n.getName().equals(node) ? change.apply(n.toBuilder()).build() : n);
            }
            state.clearNodes().addAllNodes(nodes);
            return this;
        }

        World tag(String node, UnaryOperator<NodeTags.Builder> tags) {
            return node(node, b -> b.setTags(tags.apply(b.getTags().toBuilder())));
        }

        World role(String node, NodeRole role) {
            return node(node, b -> b.setRole(role));
        }

        /** A switchover from a live pg-1 to pg-2 started at epoch 5, acked by everyone. */
        World switchover(UnaryOperator<NodeObservation.Builder> oldPrimary) {
            role("pg-2", NodeRole.CANDIDATE);
            obs.put("pg-1", oldPrimary.apply(obs.get("pg-1").toBuilder()).build());
            state.setEpoch(5).setPrimary("").setOperation(Operation.newBuilder().setKind(EventKind.SWITCHOVER)
                    .setStep(OperationStep.STARTED).setTarget("pg-2").setEpoch(5).setOldPrimary("pg-1")
                    .setReason("switchover to pg-2").addAllAckedInstances(MEMBERS));
            return this;
        }

        /** A failover from pg-1 to pg-2 started: epoch 5, no primary, acked by {@code acked}. */
        World started(String... acked) {
            primaryDead();
            role("pg-2", NodeRole.CANDIDATE);
            state.setEpoch(5).setPrimary("").setOperation(Operation.newBuilder().setKind(EventKind.FAILOVER)
                    .setStep(OperationStep.STARTED).setTarget("pg-2").setEpoch(5).setOldPrimary("pg-1")
                    .setReason("pg-1 failed").addAllAckedInstances(List.of(acked)));
            return this;
        }

        /** Synchronous mode with ANY {@code n} over {@code set}, as the primary is configured. */
        World sync(int n, String... set) {
            state.setSettings(state.getSettings().toBuilder().setReplication(
                    io.metako.proto.v1.ReplicationSettings.newBuilder().setMode("sync").setSyncStandbys(n)));
            state.clearSynchronousStandbys().addAllSynchronousStandbys(List.of(set));
            obs.put("pg-1", obs.get("pg-1").toBuilder().setSynchronousStandbyNames(
                    SynchronousSet.setting(List.of(set), n)).build());
            return this;
        }

        /** pg-1 failed over to pg-2 (timeline 2, epoch 4) and is quarantined, managed by m1, stopped. */
        World quarantined() {
            state.setPrimary("pg-2");
            role("pg-1", NodeRole.QUARANTINED).role("pg-2", NodeRole.PRIMARY);
            manage("pg-1", "m1");
            obs.put("pg-1", NodeObservation.newBuilder().setReachable(false).setError("connection refused").build());
            obs.put("pg-2", NodeObservation.newBuilder().setReachable(true).setCurrentLsn("0/9000000").setTimeline(2).build());
            obs.put("pg-3", World.replica("0/9000000", 5433).toBuilder().setTimeline(2).build());
            return this;
        }

        World manage(String node, String instance) {
            return node(node, b -> b.setManagingInstance(instance));
        }

        World rejoin(String node, io.metako.proto.v1.NodeRejoin.Builder r) {
            return node(node, b -> b.setRejoin(r));
        }

        static io.metako.proto.v1.NodeRejoin.Builder attempt(int attempt, long epoch) {
            return io.metako.proto.v1.NodeRejoin.newBuilder().setAttempt(attempt).setEpoch(epoch).setMethod("rewind_or_clone")
                    .setSource("pg-2").setStartedMillis(NOW - 5_000);
        }

        World apply(UnaryOperator<World> f) {
            return f.apply(this);
        }

        Decision decide() {
            return FailoverDecider.decide(new ControllerView(state.build(), obs, MEMBERS, silent, NOW, seenMillis, unresponsive,
                    acknowledgers));
        }
    }

    static Stream<Arguments> table() {
        return Stream.of(
                row("an unseeded cluster waits", w -> { w.state = ClusterState.newBuilder(); return w; },
                        "", "waiting: the cluster is not seeded yet"),
                row("a healthy primary needs nothing", w -> w, "", "no action: pg-1 is primary at epoch 4"),
                row("the primary down for a minority of instances only: no failover", w -> w.down("pg-1", "m3"),
                        "", "waiting: pg-1 down for 1/3 instances"),
                row("the primary down for a majority: fail over to a replica", w -> w.primaryDead(),
                        "StartFailover[oldPrimary=pg-1, target=pg-2", "failover: pg-1 failed for 3/3 instances"),
                row("a replica still receiving WAL from the primary vetoes the failover",
                        w -> { w.primaryDead(); w.obs.put("pg-3", World.replica("0/9000000", 5432).toBuilder()
                                .setReceiverLastMessageAgeMillis(800).build()); return w; },
                        "", "waiting: pg-1 failed for 3/3 instances but pg-3 still receives WAL from it"),
                row("a replica whose last probe failed still vetoes by what its last answer said, while that is fresh",
                        w -> { w.primaryDead(); w.obs.put("pg-3", World.replica("0/9000000", 5432).toBuilder().setReachable(false)
                                .setError("no answer within 500ms").setReceiverLastMessageAgeMillis(1_300).build()); return w; },
                        "", "waiting: pg-1 failed for 3/3 instances but pg-3 still receives WAL from it"),
                row("and not once that has aged past the window",
                        w -> { w.primaryDead(); w.obs.put("pg-3", World.replica("0/9000000", 5432).toBuilder().setReachable(false)
                                .setError("no answer within 500ms").setReceiverLastMessageAgeMillis(4_300).build()); return w; },
                        "StartFailover", "failover:"),
                row("a receiver that has heard nothing for long is no proof of life",
                        w -> { w.primaryDead(); w.obs.put("pg-3", World.replica("0/9000000", 5432).toBuilder()
                                .setReceiverLastMessageAgeMillis(9_000).build()); return w; },
                        "StartFailover", "failover:"),
                row("a receiver streaming from another node is no proof the primary lives",
                        w -> { w.primaryDead(); w.obs.put("pg-3", World.replica("0/9000000", 5433).toBuilder()
                                .setReceiverLastMessageAgeMillis(100).build()); return w; },
                        "StartFailover", "failover:"),
                row("two of three instances suffice", w -> w.down("pg-1", "m1", "m2"),
                        "StartFailover[oldPrimary=pg-1, target=pg-2", "failover: pg-1 failed for 2/3 instances"),
                row("the most advanced replica wins", w -> w.primaryDead().lsn("pg-3", "0/9000100"),
                        "StartFailover[oldPrimary=pg-1, target=pg-3", "candidate pg-3"),
                row("equal positions: the higher priority wins", w -> w.primaryDead().tag("pg-3", t -> t.setPriority(10)),
                        "StartFailover[oldPrimary=pg-1, target=pg-3", "candidate pg-3"),
                row("equal positions and priorities: the name decides", w -> w.primaryDead(),
                        "target=pg-2", "candidate pg-2"),
                row("a paused cluster never fails over", w -> { w.state.setPaused(true); return w.primaryDead(); },
                        "", "paused: pg-1 failed for 3/3 instances; no automatic failover in maintenance mode"),
                row("within the cooldown after the last failover: no failover",
                        w -> { w.state.addHistory(TopologyEvent.newBuilder().setKind(EventKind.FAILOVER).setTimeMillis(NOW - 10_000)); return w.primaryDead(); },
                        "", "no failover: pg-1 failed for 3/3 instances but the last change of primary was 10s ago (cooldown 30s)"),
                row("after the cooldown a failover may start again",
                        w -> { w.state.addHistory(TopologyEvent.newBuilder().setKind(EventKind.SWITCHOVER).setTimeMillis(NOW - 31_000)); return w.primaryDead(); },
                        "StartFailover", "failover:"),
                row("a dead instance's old DOWN verdict does not tip the majority",
                        w -> { w.unresponsive.add("m3"); return w.down("pg-1", "m3", "m1"); },
                        "", "waiting: pg-1 down for 1/3 instances"),
                row("with a dead instance, the two live ones agreeing is still a majority of three",
                        w -> { w.unresponsive.add("m3"); return w.down("pg-1", "m1", "m2"); },
                        "StartFailover", "failover: pg-1 failed for 2/3 instances"),
                row("a leader whose clock was stepped back an hour still ends the cooldown by its monotonic clock",
                        w -> { w.state.addHistory(TopologyEvent.newBuilder().setKind(EventKind.FAILOVER).setTimeMillis(NOW + 3_600_000));
                            w.seenMillis = 31_000; return w.primaryDead(); },
                        "StartFailover", "failover:"),
                row("a change this process saw 5 s ago, stamped an hour ahead of its clock: still cooling down",
                        w -> { w.state.addHistory(TopologyEvent.newBuilder().setKind(EventKind.FAILOVER).setTimeMillis(NOW + 3_600_000));
                            w.seenMillis = 5_000; return w.primaryDead(); },
                        "", "no failover: pg-1 failed for 3/3 instances but the last change of primary was 5s ago (cooldown 30s)"),
                row("the bootstrap event does not count as a failover for the cooldown",
                        w -> { w.state.addHistory(TopologyEvent.newBuilder().setKind(EventKind.BOOTSTRAPPED).setTimeMillis(NOW - 1_000)); return w.primaryDead(); },
                        "StartFailover", "failover:"),
                row("every candidate tagged nofailover: no failover",
                        w -> w.primaryDead().tag("pg-2", t -> t.setNofailover(true)).tag("pg-3", t -> t.setNofailover(true)),
                        "", "no failover: pg-1 failed for 3/3 instances and pg-2 is tagged nofailover; pg-3 is tagged nofailover"),
                row("a nofailover replica is skipped for another", w -> w.primaryDead().tag("pg-2", t -> t.setNofailover(true)),
                        "target=pg-3", "candidate pg-3"),
                row("no candidate within maximum_lag_on_failover: no failover",
                        w -> { w.primaryDead(); w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setCurrentLsn("0/F000000").build());
                            return w; },
                        "", "over maximum_lag_on_failover 16MB"),
                row("a replica too far behind the others is passed over", w -> w.primaryDead().lsn("pg-2", "0/1000000"),
                        "target=pg-3", "candidate pg-3"),
                row("a replica unhealthy by majority is passed over", w -> w.primaryDead().down("pg-2", "m1", "m2"),
                        "target=pg-3", "candidate pg-3"),
                row("a replica the leader cannot see is passed over",
                        w -> { w.primaryDead(); w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(false).build()); return w; },
                        "target=pg-3", "candidate pg-3"),
                row("no replica healthy: the cluster waits without promoting",
                        w -> w.primaryDead().down("pg-2", "m1", "m2").down("pg-3", "m1", "m2"),
                        "", "no failover: pg-1 failed for 3/3 instances and pg-2 is not healthy by majority"),
                row("verdicts of instances outside the group do not count",
                        w -> { w.state.addVerdicts(VerdictRecord.newBuilder().setInstanceId("gone").setNode("pg-1").setVerdict(Verdict.DOWN)); return w.down("pg-1", "m1"); },
                        "", "waiting: pg-1 down for 1/3 instances"),
                row("an operation waits for every instance's acknowledgement", w -> w.started("m1"),
                        "", "waiting: epoch 5 acknowledged by 1/3 instances [m2, m3]"),
                row("an instance registered and not (or no longer) voting must acknowledge too: it may hold a lease",
                        w -> { w.started("m1", "m2", "m3"); w.acknowledgers = List.of("m1", "m2", "m3", "m4"); return w; },
                        "", "waiting: epoch 5 acknowledged by 3/4 instances [m4]"),
                row("a registered instance that did not acknowledge within lease + margin is passed over",
                        w -> { w.started("m1", "m2", "m3"); w.acknowledgers = List.of("m1", "m2", "m3", "m4"); w.silent.add("m4"); return w; },
                        "Promote[node=pg-2, synchronousStandbyNames=null]", "promoting pg-2 at epoch 5"),
                row("an instance that did not acknowledge within lease + margin is passed over",
                        w -> { w.started("m1", "m2"); w.silent.add("m3"); return w; },
                        "Promote[node=pg-2, synchronousStandbyNames=null]", "promoting pg-2 at epoch 5"),
                row("an operation in progress is resumed: promote its target", w -> w.started("m1", "m2", "m3"),
                        "Promote[node=pg-2, synchronousStandbyNames=null]", "promoting pg-2 at epoch 5"),
                row("the old primary, if reachable, is fenced before the promotion",
                        w -> { w.started("m1", "m2", "m3"); w.obs.put("pg-1", NodeObservation.newBuilder().setReachable(true).setCurrentLsn("0/9000000").build()); return w; },
                        "Fence[node=pg-1], Promote[node=pg-2, synchronousStandbyNames=null]", "promoting pg-2"),
                row("a promoted target completes the failover",
                        w -> { w.started("m1", "m2", "m3"); w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(true).setTimeline(2).setCurrentLsn("0/9000200").build()); return w; },
                        "CompleteFailover[node=pg-2, timeline=2]", "completing: pg-2 left recovery on timeline 2"),
                row("a target that became unfit is replaced through the log before anything is promoted",
                        w -> w.started("m1", "m2", "m3").down("pg-2", "m1", "m2"),
                        "RetargetFailover[target=pg-3, reason=pg-2", "retargeting epoch 5 from pg-2 to pg-3: pg-2"),
                row("a target an operator named that became unfit: wait, promote nobody else",
                        w -> { w.started("m1", "m2", "m3").down("pg-2", "m1", "m2"); w.state.getOperationBuilder().setRequested(true); return w; },
                        "", "waiting: pg-2"),
                row("a replica out of recovery that is not the target is fenced, never crowned",
                        w -> { w.started("m1", "m2", "m3"); w.obs.put("pg-3", NodeObservation.newBuilder().setReachable(true).setTimeline(2).setCurrentLsn("0/9000200").build()); return w; },
                        "Fence[node=pg-3]", "fencing [pg-3]: out of recovery but not the target pg-2 of epoch 5"),
                row("no candidate and the old primary back by majority: abort",
                        w -> w.started("m1", "m2", "m3").down("pg-2", "m1", "m2").down("pg-3", "m1", "m2")
                                .verdict("m1", "pg-1", Verdict.UP).verdict("m2", "pg-1", Verdict.UP),
                        "AbortFailover", "aborting:"),
                row("no candidate and the old primary still down: wait without a primary",
                        w -> w.started("m1", "m2", "m3").down("pg-2", "m1", "m2").down("pg-3", "m1", "m2"),
                        "", "waiting without a primary at epoch 5"),
                row("an old primary restarted as-is is fenced again",
                        w -> { w.state.setPrimary("pg-2"); w.role("pg-1", NodeRole.QUARANTINED).role("pg-2", NodeRole.PRIMARY);
                            w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(true).setCurrentLsn("0/9000000").build());
                            w.obs.put("pg-3", World.replica("0/9000000", 5433));
                            return w; },
                        "Fence[node=pg-1]", "no action: pg-2 is primary at epoch 4"),
                row("a replica promoted by a step the log abandoned (an abort that raced the promotion) is fenced",
                        w -> { w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(true).setTimeline(2).build()); return w; },
                        "Fence[node=pg-2]", "no action: pg-1 is primary at epoch 4"),
                row("a fenced quarantined node is left alone",
                        w -> { w.state.setPrimary("pg-2"); w.role("pg-1", NodeRole.QUARANTINED).role("pg-2", NodeRole.PRIMARY);
                            w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setReadOnly(true).build());
                            w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(true).build());
                            w.obs.put("pg-3", World.replica("0/9000000", 5433));
                            return w; },
                        "", "no action: pg-2 is primary at epoch 4"),
                row("a replica still streaming from the old primary is re-pointed",
                        w -> { w.state.setPrimary("pg-2"); w.role("pg-1", NodeRole.QUARANTINED).role("pg-2", NodeRole.PRIMARY);
                            w.obs.put("pg-1", NodeObservation.newBuilder().setReachable(false).build());
                            w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(true).build());
                            return w; },
                        "Repoint[replica=pg-3, primary=pg-2]", "re-pointing [pg-3] to pg-2 at epoch 4"),
                row("no re-pointing while the primary itself is not seen",
                        w -> { w.state.setPrimary("pg-2"); w.role("pg-1", NodeRole.QUARANTINED).role("pg-2", NodeRole.PRIMARY);
                            w.obs.put("pg-1", NodeObservation.newBuilder().setReachable(false).build());
                            w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(false).build());
                            return w; },
                        "", "no action: pg-2 is primary at epoch 4"),
                row("replicas that lost a primary not yet failed by majority are not re-pointed",
                        w -> { w.down("pg-1", "m1"); w.obs.put("pg-1", NodeObservation.newBuilder().setReachable(false).build());
                            w.obs.put("pg-2", World.replica("0/9000000", 0)); return w; },
                        "", "waiting: pg-1 down for 1/3 instances"),
                row("a replica whose WAL receiver stopped is re-pointed at a live primary",
                        w -> { w.obs.put("pg-2", World.replica("0/9000000", 0)); return w; },
                        "Repoint[replica=pg-2, primary=pg-1]", "re-pointing [pg-2] to pg-1"),
                row("a switchover first makes the old primary read-only", w -> w.switchover(o -> o),
                        "Fence[node=pg-1]", "switchover: making pg-1 read-only at epoch 5"),
                row("a switchover waits until the target replayed the old primary's last position",
                        w -> w.switchover(o -> o.setReadOnly(true).setCurrentLsn("0/9000100")),
                        "", "switchover: waiting for pg-2 to replay up to 0/9000100 (at 0/9000000)"),
                row("a switchover waits for transactions begun before the fence",
                        w -> w.switchover(o -> o.setReadOnly(true).setOpenTransactions(2)),
                        "", "switchover: waiting for 2 open transaction(s) on pg-1 to end"),
                row("a switchover promotes the target once it has caught up",
                        w -> w.switchover(o -> o.setReadOnly(true)),
                        "Promote[node=pg-2, synchronousStandbyNames=null]", "switchover: pg-2 replayed pg-1's last position 0/9000000; promoting it"),
                row("a switchover whose old primary missed a probe waits for it: the target may not have replayed all",
                        w -> w.switchover(o -> o.setReachable(false).setError("terminating connection due to administrator command")),
                        "", "switchover: waiting to see pg-1 again (terminating connection due to administrator command); pg-2 is"
                                + " promoted only once it has replayed all pg-1 wrote"),
                row("a switchover whose old primary failed by majority continues like a failover",
                        w -> w.switchover(o -> o.setReachable(false)).down("pg-1", "m1", "m2"),
                        "Promote[node=pg-2, synchronousStandbyNames=null]", "promoting pg-2 at epoch 5"),
                row("a forced failover promotes its target even when unhealthy by majority",
                        w -> { w.started("m1", "m2", "m3").down("pg-2", "m1", "m2");
                            w.state.setOperation(w.state.getOperation().toBuilder().setForced(true)); return w; },
                        "Promote[node=pg-2, synchronousStandbyNames=null]", "promoting pg-2 at epoch 5 (forced by an operator)"),
                row("a forced failover waits while its target cannot be reached",
                        w -> { w.started("m1", "m2", "m3"); w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(false).build());
                            w.state.setOperation(w.state.getOperation().toBuilder().setForced(true)); return w; },
                        "", "waiting: the forced target pg-2 is not reachable"),
                row("a primary left read-only by an aborted operation is unfenced",
                        w -> { w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setReadOnly(true).build()); return w; },
                        "Unfence[node=pg-1]", "no action: pg-1 is primary at epoch 4"),
                row("right after a change of primary the fence stays until every node was probed since (a raced promotion)",
                        w -> { w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setReadOnly(true).build());
                            w.state.setSettings(w.state.getSettings().toBuilder().setHealthCheck(
                                    io.metako.proto.v1.HealthCheckSettings.newBuilder().setIntervalMillis(500).setTimeoutMillis(500)));
                            w.seenMillis = 1_500; return w; },
                        "", "no action: pg-1 is primary at epoch 4"),
                row("two probe rounds after the change the fence is lifted",
                        w -> { w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setReadOnly(true).build());
                            w.state.setSettings(w.state.getSettings().toBuilder().setHealthCheck(
                                    io.metako.proto.v1.HealthCheckSettings.newBuilder().setIntervalMillis(500).setTimeoutMillis(500)));
                            w.seenMillis = 2_000; return w; },
                        "Unfence[node=pg-1]", "no action: pg-1 is primary at epoch 4"),
                row("a replica promoted by a raced abort is fenced, and the primary's fence stays until it is",
                        w -> { w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setReadOnly(true).build());
                            w.obs.put("pg-2", NodeObservation.newBuilder().setReachable(true).setTimeline(2).build()); return w; },
                        "[Fence[node=pg-2]]", "no action: pg-1 is primary at epoch 4"),
                row("a switchover whose old primary failed by majority but still streams to a replica waits",
                        w -> { w.switchover(o -> o.setReachable(false)).down("pg-1", "m1", "m2");
                            w.obs.put("pg-3", World.replica("0/9000000", 5432).toBuilder().setReceiverLastMessageAgeMillis(300).build());
                            return w; },
                        "", "switchover: pg-1 is failed by majority but pg-3 still receives WAL from it; waiting"),
                row("sync mode: the healthy streaming replicas join the synchronous set in the log first",
                        w -> w.sync(1), "SetSyncSet[names=[pg-2, pg-3]]", "no action"),
                row("sync mode: then the primary is told to wait for them",
                        w -> { w.sync(1, "pg-2", "pg-3"); w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setSynchronousStandbyNames("").build()); return w; },
                        "ConfigureSync[primary=pg-1, names=[pg-2, pg-3], n=1]", "no action"),
                row("sync mode: a consistent set needs nothing", w -> w.sync(1, "pg-2", "pg-3"), "", "no action: pg-1 is primary"),
                row("sync mode: a failed standby leaves the primary's setting before the log's set",
                        w -> w.sync(1, "pg-2", "pg-3").down("pg-3", "m1", "m2"),
                        "ConfigureSync[primary=pg-1, names=[pg-2], n=1]", "no action"),
                row("sync mode: ... and leaves the log's set once the primary no longer waits for it",
                        w -> { w.sync(1, "pg-2", "pg-3").down("pg-3", "m1", "m2");
                            w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setSynchronousStandbyNames("ANY 1 (\"pg-2\")").build()); return w; },
                        "SetSyncSet[names=[pg-2]]", "no action"),
                row("sync mode: fewer streaming standbys than sync_standbys: the sentence says commits wait",
                        w -> w.sync(1, "pg-2").down("pg-2", "m1", "m2").down("pg-3", "m1", "m2"), "",
                        "no action: pg-1 is primary at epoch 4; commits on pg-1 wait: 0 of the 1 synchronous standbys"),
                row("sync mode: the set never shrinks below sync_standbys",
                        w -> w.sync(1, "pg-2").down("pg-2", "m1", "m2").down("pg-3", "m1", "m2"), "", "no action"),
                row("async mode: metako clears a synchronous setting it no longer wants",
                        w -> { w.obs.put("pg-1", w.obs.get("pg-1").toBuilder().setSynchronousStandbyNames("ANY 1 (\"pg-2\")").build()); return w; },
                        "ConfigureSync[primary=pg-1, names=[], n=0]", "no action"),
                row("sync mode with the only synchronous standby down: no failover",
                        w -> w.sync(1, "pg-2").primaryDead().down("pg-2", "m1", "m2"),
                        "", "synchronous mode: 0 of the synchronous set [pg-2] can be seen, 1 needed"),
                row("sync mode: only a member of the synchronous set is promoted, even if another is further ahead",
                        w -> w.sync(1, "pg-3").primaryDead().lsn("pg-2", "0/9000100"),
                        "target=pg-3", "candidate pg-3"),
                row("sync mode ANY 1 of two: both members must be seen",
                        w -> { w.sync(1, "pg-2", "pg-3").primaryDead(); w.obs.put("pg-3", NodeObservation.newBuilder().setReachable(false).build()); return w; },
                        "", "1 of the synchronous set [pg-2, pg-3] can be seen, 2 needed"),
                row("sync mode ANY 2 of two: one member seen is enough",
                        w -> { w.sync(2, "pg-2", "pg-3").primaryDead(); w.obs.put("pg-3", NodeObservation.newBuilder().setReachable(false).build()); return w; },
                        "target=pg-2", "candidate pg-2"),
                row("sync mode: the promoted member waits for the rest of the set from its first commit",
                        w -> { w.sync(1, "pg-2", "pg-3").started("m1", "m2", "m3"); return w; },
                        "Promote[node=pg-2, synchronousStandbyNames=ANY 1 (\"pg-3\")]", "promoting pg-2 at epoch 5"),
                row("sync mode: the most advanced member wins",
                        w -> w.sync(1, "pg-2", "pg-3").primaryDead().lsn("pg-3", "0/9000100"),
                        "target=pg-3", "candidate pg-3"),
                row("a paused cluster still fences a runaway old primary",
                        w -> { w.state.setPaused(true); w.role("pg-3", NodeRole.QUARANTINED);
                            w.obs.put("pg-3", NodeObservation.newBuilder().setReachable(true).build());
                            return w; },
                        "Fence[node=pg-3]", "no action: pg-1 is primary at epoch 4"),
                row("a quarantined old primary with a managing instance rejoins on its own",
                        w -> w.quarantined(), "StartRejoin[node=pg-1, method=rewind_or_clone]",
                        "no action: pg-2 is primary at epoch 4; rejoining pg-1 to pg-2 (rewind_or_clone) on m1"),
                row("the cluster's method is the one used",
                        w -> { w.quarantined().state.getSettingsBuilder().setRejoin(
                                io.metako.proto.v1.RejoinSettings.newBuilder().setMethod("rewind")); return w; },
                        "StartRejoin[node=pg-1, method=rewind]", "rejoining pg-1 to pg-2 (rewind) on m1"),
                row("no rejoin before every instance sees the primary up",
                        w -> w.quarantined().down("pg-2", "m3"), "", "waiting: pg-2 down for 1/3 instances"),
                row("no rejoin to a primary still fenced (an aborted operation's)",
                        w -> { w.quarantined().obs.put("pg-2", w.obs.get("pg-2").toBuilder().setReadOnly(true).build()); return w; },
                        "Unfence[node=pg-2]", "no action: pg-2 is primary at epoch 4"),
                row("a rejoin starts as soon as the new primary takes writes: the sooner the old one is stopped the better",
                        w -> { w.quarantined().seenMillis = 10; w.state.getSettingsBuilder().setHealthCheck(
                                io.metako.proto.v1.HealthCheckSettings.newBuilder().setIntervalMillis(500).setTimeoutMillis(500));
                            return w; }, "StartRejoin[node=pg-1", "rejoining pg-1 to pg-2"),
                row("a rejoin in progress is waited for",
                        w -> w.quarantined().rejoin("pg-1", World.attempt(1, 4)), "",
                        "rejoining pg-1 (attempt 1, rewind_or_clone) on m1 for 5s"),
                row("a rejoin whose managing instance does not answer resumes when it is back",
                        w -> { w.quarantined().rejoin("pg-1", World.attempt(1, 4)).unresponsive.add("m1"); return w; }, "",
                        "on m1 for 5s, which does not answer: it resumes when that instance is back"),
                row("a node that streams from the primary on its timeline completes its rejoin",
                        w -> { w.quarantined().rejoin("pg-1", World.attempt(1, 4).setFinishedMillis(NOW - 1_000).setDoneBy("pg_rewind")
                                .setPostmasterStartMicros(77_000_123));
                            w.obs.put("pg-1", World.replica("0/9000000", 5433).toBuilder().setTimeline(2)
                                    .setPostmasterStartMicros(77_000_123).build()); return w; },
                        "CompleteRejoin[node=pg-1, adopted=false, attempt=1]", "pg-1 streams from pg-2 on timeline 2: taking it back"),
                row("a probe of the postmaster from before the restart completes nothing, whatever it says",
                        w -> { w.quarantined().rejoin("pg-1", World.attempt(1, 4).setFinishedMillis(NOW - 1_000).setDoneBy("a fresh clone")
                                .setPostmasterStartMicros(77_000_123));
                            w.obs.put("pg-1", World.replica("0/9000000", 5433).toBuilder().setTimeline(2)
                                    .setPostmasterStartMicros(66_000_000).build()); return w; },
                        "", "pg-1 restarted as a replica by a fresh clone; waiting to see it stream from pg-2"),
                row("nor while the managing instance has not reported the restart",
                        w -> { w.quarantined().rejoin("pg-1", World.attempt(1, 4));
                            w.obs.put("pg-1", World.replica("0/9000000", 5433).toBuilder().setTimeline(2).build()); return w; },
                        "", "rejoining pg-1 (attempt 1, rewind_or_clone) on m1"),
                row("streaming on the old timeline is no rejoin",
                        w -> { w.quarantined().rejoin("pg-1", World.attempt(1, 4).setFinishedMillis(NOW - 1_000).setDoneBy("pg_rewind")
                                .setPostmasterStartMicros(77_000_123));
                            w.obs.put("pg-1", World.replica("0/9000000", 5433).toBuilder().setPostmasterStartMicros(77_000_123).build());
                            return w; },
                        "", "pg-1 restarted as a replica by pg_rewind; waiting to see it stream from pg-2"),
                row("streaming from another node is no rejoin",
                        w -> { w.quarantined().obs.put("pg-1", World.replica("0/9000000", 5434).toBuilder().setTimeline(2)
                                .setPostmasterStartMicros(77_000_123).build());
                            w.rejoin("pg-1", World.attempt(1, 4).setFinishedMillis(NOW - 1_000).setDoneBy("pg_rewind")
                                    .setPostmasterStartMicros(77_000_123)); return w; },
                        "", "pg-1 restarted as a replica by pg_rewind; waiting to see it stream from pg-2"),
                row("a reinit's next attempt clones again, even after a change of primary",
                        w -> w.quarantined().rejoin("pg-1", World.attempt(2, 3).setReinit(true).setMethod("clone")),
                        "StartRejoin[node=pg-1, method=clone]", "rejoining pg-1 to pg-2 (clone) on m1"),
                row("restarted but never seen streaming: rejoined again",
                        w -> w.quarantined().rejoin("pg-1", World.attempt(1, 4).setFinishedMillis(NOW - 181_000).setDoneBy("pg_rewind")),
                        "StartRejoin[node=pg-1", "pg-1 was restarted as a replica 181s ago but does not stream from pg-2; rejoining pg-1"),
                row("a failed attempt is reported, and tried again after a while",
                        w -> w.quarantined().rejoin("pg-1", World.attempt(1, 4).setFinishedMillis(NOW - 1_000).setError("pg_rewind: no WAL")),
                        "", "rejoin of pg-1 failed (attempt 1): pg_rewind: no WAL; trying again in 29s"),
                row("and then tried again",
                        w -> w.quarantined().rejoin("pg-1", World.attempt(1, 4).setFinishedMillis(NOW - 31_000).setError("pg_rewind: no WAL")),
                        "StartRejoin[node=pg-1", "rejoin of pg-1 failed (attempt 1): pg_rewind: no WAL; rejoining pg-1"),
                row("an attempt of an earlier epoch counts for nothing",
                        w -> w.quarantined().rejoin("pg-1", World.attempt(3, 3)), "StartRejoin[node=pg-1", "rejoining pg-1 to pg-2"),
                row("with rejoin.auto off only an operator starts one",
                        w -> { w.quarantined().state.getSettingsBuilder().setRejoin(
                                io.metako.proto.v1.RejoinSettings.newBuilder().setManual(true)); return w; },
                        "", "pg-1 is quarantined (rejoin.auto is off): metakoctl rejoin pg-1 brings it back"),
                row("no automatic rejoin in maintenance mode",
                        w -> { w.quarantined().state.setPaused(true); return w; },
                        "", "pg-1 is quarantined; no automatic rejoin in maintenance mode"),
                row("no rejoin while the managing instance does not answer",
                        w -> { w.quarantined().unresponsive.add("m1"); return w; },
                        "", "pg-1 is quarantined; its managing instance m1 does not answer"),
                row("a node nobody manages waits for an operator",
                        w -> w.quarantined().manage("pg-1", ""), "",
                        "pg-1 is quarantined and no instance manages it (instance.manages): repair it by hand"),
                row("and is adopted once an operator made it stream from the primary",
                        w -> { w.quarantined().manage("pg-1", "");
                            w.obs.put("pg-1", World.replica("0/9000000", 5433).toBuilder().setTimeline(2).build()); return w; },
                        "CompleteRejoin[node=pg-1, adopted=true, attempt=0]", "taking it back as a replica"),
                row("a node added with --clone is not taken as it is, even streaming: it waits for its manager",
                        w -> { w.quarantined().manage("pg-1", "").rejoin("pg-1",
                                io.metako.proto.v1.NodeRejoin.newBuilder().setReinit(true));
                            w.obs.put("pg-1", World.replica("0/9000000", 5433).toBuilder().setTimeline(2).build()); return w; },
                        "", "pg-1 was added with --clone and waits for an instance that manages it"),
                row("and is cloned once one manages it",
                        w -> { w.quarantined().rejoin("pg-1", io.metako.proto.v1.NodeRejoin.newBuilder().setReinit(true));
                            w.obs.put("pg-1", World.replica("0/9000000", 5433).toBuilder().setTimeline(2).build()); return w; },
                        "StartRejoin[node=pg-1, method=clone]", "rejoining pg-1 to pg-2 (clone)"));
    }

    private static Arguments row(String scenario, UnaryOperator<World> world, String actions, String reason) {
        return Arguments.of(scenario, world, actions, reason);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void decides(String scenario, UnaryOperator<World> world, String actions, String reason) {
        Decision d = world.apply(new World()).decide();
        if (actions.isEmpty()) {
            assertThat(d.actions()).as(d.reason()).isEmpty();
        } else {
            assertThat(d.actions().toString()).as(d.reason()).contains(actions);
        }
        assertThat(d.reason()).contains(reason);
    }

    @org.junit.jupiter.api.Test
    void startFailoverRecordsEveryCandidatesPosition() {
        Decision d = new World().primaryDead().lsn("pg-3", "0/9000100").decide();
        ControllerAction.StartFailover start = (ControllerAction.StartFailover) d.actions().get(0);
        assertThat(start.candidates()).extracting(c -> c.getNode() + "@" + Lsn.format(c.getLsn()))
                .containsExactly("pg-2@0/9000000", "pg-3@0/9000100");
    }
}

package io.metako.server.state;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.HealthCheckSettings;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.ReportVerdict;
import io.metako.proto.v1.SeedCluster;
import io.metako.proto.v1.Verdict;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

public class ClusterTransitionsTest {
    static final ClusterState EMPTY = ClusterState.getDefaultInstance();

    static SeedCluster seed() {
        return SeedCluster.newBuilder().setClusterName("t").setPrimary("pg-1")
                .setSettings(ClusterSettings.newBuilder().setHealthCheck(HealthCheckSettings.newBuilder()
                        .setIntervalMillis(1000).setTimeoutMillis(1000).setFailureThreshold(3).setRecoveryThreshold(2)))
                .addNodes(node("pg-2")).addNodes(node("pg-1")).addNodes(node("pg-3")).build();
    }

    static Node node(String name) {
        return Node.newBuilder().setName(name).setHost("127.0.0.1").setPort(5432 + name.charAt(3)).build();
    }

    static Command seedCommand(long epoch, SeedCluster seed) {
        return Command.newBuilder().setEpoch(epoch).setTimeMillis(1000).setProposer("metako-1").setSeed(seed).build();
    }

    static Command verdict(long epoch, String instance, String node, Verdict v, long time) {
        return Command.newBuilder().setEpoch(epoch).setTimeMillis(time).setProposer(instance)
                .setReportVerdict(ReportVerdict.newBuilder().setInstanceId(instance).setNode(node).setVerdict(v)).build();
    }

    static ClusterState seeded() {
        return ClusterTransitions.apply(EMPTY, seedCommand(0, seed()), 1).state();
    }

    @Test
    void aControllersCommandCountsOnlyInTheTermItWasDecidedIn() {
        Command pause = Command.newBuilder().setEpoch(1).setTimeMillis(2000).setProposer("metako-2").setProposerTerm(3)
                .setSetPaused(io.metako.proto.v1.SetPaused.newBuilder().setPaused(true)).build();
        ClusterTransitions.Outcome late = ClusterTransitions.apply(seeded(), pause, 4);
        assertThat(late.applied()).isFalse();
        assertThat(late.rejection()).isEqualTo("stale leader: decided in Raft term 3 but appended in term 4");
        assertThat(late.state()).isEqualTo(seeded());
        assertThat(ClusterTransitions.apply(seeded(), pause, 3).applied()).as("in its own term").isTrue();
        assertThat(ClusterTransitions.apply(seeded(), pause, 0).applied()).as("validation before appending").isTrue();
        assertThat(ClusterTransitions.apply(seeded(), pause.toBuilder().setProposerTerm(0).build(), 4).applied())
                .as("an operator's command carries no term").isTrue();
    }

    @Test
    void seedSetsEpochOnePrimaryRolesSortedNodesAndHistory() {
        ClusterState s = seeded();
        assertThat(s.getSeeded()).isTrue();
        assertThat(s.getEpoch()).isEqualTo(1);
        assertThat(s.getPrimary()).isEqualTo("pg-1");
        assertThat(s.getNodesList()).extracting(Node::getName).containsExactly("pg-1", "pg-2", "pg-3");
        assertThat(s.getNodesList()).extracting(Node::getRole)
                .containsExactly(NodeRole.PRIMARY, NodeRole.REPLICA, NodeRole.REPLICA);
        assertThat(s.getHistoryList()).singleElement().satisfies(e -> {
            assertThat(e.getKind()).isEqualTo(EventKind.BOOTSTRAPPED);
            assertThat(e.getTerm()).isEqualTo(1);
            assertThat(e.getTimeMillis()).isEqualTo(1000);
        });
        assertThat(s.getSettings().getHealthCheck().getFailureThreshold()).isEqualTo(3);
    }

    @Test
    void verdictTransitionIsRecordedWithTheCommandsTime() {
        ClusterState s = ClusterTransitions.apply(seeded(), verdict(1, "metako-2", "pg-1", Verdict.DOWN, 5000), 2).state();
        assertThat(s.getVerdictsList()).singleElement().satisfies(v -> {
            assertThat(v.getVerdict()).isEqualTo(Verdict.DOWN);
            assertThat(v.getSinceMillis()).isEqualTo(5000);
        });
        ClusterState up = ClusterTransitions.apply(s, verdict(1, "metako-2", "pg-1", Verdict.UP, 6000), 2).state();
        assertThat(up.getVerdictsList()).singleElement().satisfies(v -> {
            assertThat(v.getVerdict()).isEqualTo(Verdict.UP);
            assertThat(v.getSinceMillis()).isEqualTo(6000);
        });
    }

    @Test
    void repeatingTheSameVerdictKeepsItsOriginalSinceTime() {
        ClusterState s = ClusterTransitions.apply(seeded(), verdict(1, "m", "pg-1", Verdict.UP, 5000), 2).state();
        ClusterTransitions.Outcome again = ClusterTransitions.apply(s, verdict(1, "m", "pg-1", Verdict.UP, 9000), 2);
        assertThat(again.applied()).isTrue();
        assertThat(again.state()).isSameAs(s);
    }

    @Test
    void applyIsDeterministicWhateverTheOrderOfReporters() {
        ClusterState a = seeded();
        a = ClusterTransitions.apply(a, verdict(1, "m2", "pg-2", Verdict.UP, 10), 2).state();
        a = ClusterTransitions.apply(a, verdict(1, "m1", "pg-1", Verdict.UP, 10), 2).state();
        ClusterState b = seeded();
        b = ClusterTransitions.apply(b, verdict(1, "m1", "pg-1", Verdict.UP, 10), 2).state();
        b = ClusterTransitions.apply(b, verdict(1, "m2", "pg-2", Verdict.UP, 10), 2).state();
        assertThat(a).isEqualTo(b);
        assertThat(a.toByteArray()).isEqualTo(b.toByteArray());
    }

    static Stream<Arguments> rejected() {
        return Stream.of(
                row("a second seed never re-seeds over the replicated state", seeded(), seedCommand(1, seed()), "already seeded"),
                row("a seed decided at another epoch is stale", EMPTY, seedCommand(3, seed()), "stale epoch"),
                row("a seed without nodes", EMPTY, seedCommand(0, seed().toBuilder().clearNodes().build()), "seed has no nodes"),
                row("a seed naming an unknown primary", EMPTY, seedCommand(0, seed().toBuilder().setPrimary("pg-9").build()),
                        "not one of its nodes"),
                row("a seed with a duplicate node", EMPTY, seedCommand(0, seed().toBuilder().addNodes(node("pg-1")).build()),
                        "duplicate node name"),
                row("a seed with a nameless node", EMPTY, seedCommand(0, seed().toBuilder().addNodes(Node.newBuilder()).build()),
                        "empty or duplicate"),
                row("a verdict before the seed", EMPTY, verdict(0, "m", "pg-1", Verdict.UP, 1), "not seeded yet"),
                row("a verdict at a stale epoch", seeded(), verdict(0, "m", "pg-1", Verdict.UP, 1), "stale epoch"),
                row("a verdict from the future epoch", seeded(), verdict(2, "m", "pg-1", Verdict.UP, 1), "stale epoch"),
                row("a verdict on an unknown node", seeded(), verdict(1, "m", "pg-9", Verdict.DOWN, 1), "unknown node 'pg-9'"),
                row("a verdict without an instance", seeded(), verdict(1, "", "pg-1", Verdict.DOWN, 1), "without an instance id"),
                row("a verdict that is neither UP nor DOWN", seeded(), verdict(1, "m", "pg-1", Verdict.VERDICT_UNSPECIFIED, 1),
                        "must be UP or DOWN"),
                row("an empty command", seeded(), Command.newBuilder().setEpoch(1).build(), "no kind is set"));
    }

    private static Arguments row(String scenario, ClusterState state, Command command, String why) {
        return Arguments.of(scenario, state, command, why);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rejected")
    void rejectedCommandsLeaveTheStateUnchanged(String scenario, ClusterState state, Command command, String why) {
        ClusterTransitions.Outcome o = ClusterTransitions.apply(state, command, 5);
        assertThat(o.applied()).isFalse();
        assertThat(o.rejection()).contains(why);
        assertThat(o.state()).isSameAs(state);
    }

    /** Settings as a seed from a file writes them: every section. */
    public static ClusterSettings fullSettings() {
        return new io.metako.server.config.ClusterWide(new io.metako.server.config.HealthCheckConfig(
                java.time.Duration.ofSeconds(1), java.time.Duration.ofSeconds(1), 3, 2),
                new io.metako.server.config.LoadBalancerConfig(io.metako.server.config.LoadBalancerConfig.Algorithm.ROUND_ROBIN,
                        java.time.Duration.ZERO, java.time.Duration.ZERO, 16L << 20),
                new io.metako.server.config.FailoverConfig(16L << 20, java.time.Duration.ofSeconds(30),
                        java.time.Duration.ofSeconds(2)),
                new io.metako.server.config.ReplicationConfig(io.metako.server.config.ReplicationConfig.Mode.ASYNC, 1,
                        java.util.Optional.empty()),
                io.metako.server.config.RejoinConfig.DEFAULT).toProto();
    }

    static Command settingsCommand(ClusterState s, ClusterSettings next, String changeKey, String old, String now) {
        return Command.newBuilder().setEpoch(1).setTimeMillis(5000).setProposer("metako-2")
                .setSetClusterSettings(io.metako.proto.v1.SetClusterSettings.newBuilder().setSettings(next)
                        .setExpected(s.getSettings()).addChanges(io.metako.proto.v1.SettingChange.newBuilder()
                                .setKey(changeKey).setOldValue(old).setNewValue(now)).setRequestedBy("ops@host")).build();
    }

    @Test
    void newSettingsApplyOnlyOverTheOnesTheyWereComputedFromAndAreRecorded() {
        ClusterState s = seeded().toBuilder().setSettings(fullSettings()).build();
        ClusterSettings next = s.getSettings().toBuilder().setHealthCheck(s.getSettings().getHealthCheck().toBuilder()
                .setIntervalMillis(250).setTimeoutMillis(250)).build();
        Command set = settingsCommand(s, next, "health_check.interval", "1s", "250ms");
        ClusterTransitions.Outcome o = ClusterTransitions.apply(s, set, 2);
        assertThat(o.applied()).as(o.rejection()).isTrue();
        assertThat(o.state().getSettings()).isEqualTo(next);
        assertThat(o.state().getHistory(o.state().getHistoryCount() - 1)).satisfies(e -> {
            assertThat(e.getKind()).isEqualTo(EventKind.SETTINGS_CHANGED);
            assertThat(e.getChangesList()).extracting(io.metako.proto.v1.SettingChange::getKey)
                    .containsExactly("health_check.interval");
            assertThat(e.getRequestedBy()).isEqualTo("ops@host");
            assertThat(e.getInstance()).isEqualTo("metako-2");
            assertThat(e.getReason()).isEqualTo("settings changed by ops@host through metako-2: health_check.interval"
                    + " 1s -> 250ms");
        });
        // the same change again: computed on settings no longer in force
        ClusterTransitions.Outcome again = ClusterTransitions.apply(o.state(), set, 2);
        assertThat(again.applied()).isFalse();
        assertThat(again.rejection()).contains("changed since this change was computed");
        assertThat(ClusterTransitions.apply(EMPTY, set.toBuilder().setEpoch(0).build(), 2).rejection())
                .isEqualTo("not seeded yet");
    }

    @Test
    void everyInstanceChecksTheLiveRulesAgainNotTrustingTheProposer() {
        ClusterState s = seeded().toBuilder().setSettings(fullSettings()).build();
        ClusterSettings shorter = s.getSettings().toBuilder().setFailover(s.getSettings().getFailover().toBuilder()
                .setLeaseMillis(500)).build();
        assertThat(ClusterTransitions.apply(s, settingsCommand(s, shorter, "failover.lease", "2s", "500ms"), 2).rejection())
                .contains("failover.lease: must be positive and may not be shortened");
        ClusterSettings overlapping = s.getSettings().toBuilder().setHealthCheck(s.getSettings().getHealthCheck()
                .toBuilder().setIntervalMillis(100)).build();
        assertThat(ClusterTransitions.apply(s, settingsCommand(s, overlapping, "x", "", ""), 2).rejection())
                .contains("health_check: the interval and timeout must be positive, the timeout at most the interval");
        ClusterSettings sync = s.getSettings().toBuilder().setReplication(s.getSettings().getReplication().toBuilder()
                .setMode("sync").setSyncStandbys(2)).build();
        ClusterState clearing = s.toBuilder().addSynchronousStandbys("pg-2").build();
        assertThat(ClusterTransitions.apply(clearing, settingsCommand(clearing, sync, "replication.mode", "async", "sync"), 2)
                .rejection()).contains("replication.mode: may not return to sync while the last synchronous set");
        assertThat(ClusterTransitions.apply(s, settingsCommand(s, sync, "replication.mode", "async", "sync"), 2).applied())
                .isTrue();
    }
}

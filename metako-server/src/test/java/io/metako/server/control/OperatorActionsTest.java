package io.metako.server.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.FailoverStarted;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.Operation;
import org.junit.jupiter.api.Test;

class OperatorActionsTest {
    private static ControllerView view(FailoverDeciderTest.World w) {
        return new ControllerView(w.state.build(), w.obs, FailoverDeciderTest.MEMBERS, w.silent, FailoverDeciderTest.NOW);
    }

    @Test
    void switchoverPicksTheBestCandidateWhenNoTargetIsGiven() {
        FailoverDeciderTest.World w = new FailoverDeciderTest.World().lsn("pg-3", "0/9000100");
        Command c = OperatorActions.switchover(view(w), "").build();
        assertThat(c.getEpoch()).isEqualTo(4);
        assertThat(c.getFailoverStarted().getKind()).isEqualTo(EventKind.SWITCHOVER);
        assertThat(c.getFailoverStarted().getTarget()).isEqualTo("pg-3");
        assertThat(c.getFailoverStarted().getOldPrimary()).isEqualTo("pg-1");
    }

    @Test
    void switchoverNeedsAHealthyPrimaryAndAFitTarget() {
        assertThatThrownBy(() -> OperatorActions.switchover(view(new FailoverDeciderTest.World().primaryDead()), ""))
                .isInstanceOfSatisfying(Refusal.class, e -> assertThat(e.kind()).isEqualTo(Refusal.Kind.NOT_NOW))
                .hasMessageContaining("not healthy by majority").hasMessageContaining("failover --to NODE");
        FailoverDeciderTest.World lagging = new FailoverDeciderTest.World();
        lagging.obs.put("pg-2", NodeObservation.newBuilder().setReachable(false).build());
        assertThatThrownBy(() -> OperatorActions.switchover(view(lagging), "pg-2"))
                .hasMessageContaining("pg-2 cannot take over now: pg-2 is not seen in recovery by the leader");
        assertThatThrownBy(() -> OperatorActions.switchover(view(new FailoverDeciderTest.World()), "pg-1"))
                .isInstanceOfSatisfying(Refusal.class, e -> assertThat(e.kind()).isEqualTo(Refusal.Kind.BAD_REQUEST))
                .hasMessageContaining("pg-1 is PRIMARY, not a replica");
        assertThatThrownBy(() -> OperatorActions.switchover(view(new FailoverDeciderTest.World()), "pg-9"))
                .hasMessageContaining("unknown node 'pg-9'; nodes: [pg-1, pg-2, pg-3]");
    }

    @Test
    void manualFailoverRefusesAnUnhealthyTargetUnlessForced() {
        FailoverDeciderTest.World w = new FailoverDeciderTest.World().down("pg-3", "m1", "m2");
        assertThatThrownBy(() -> OperatorActions.failover(view(w), "pg-3", false))
                .hasMessageContaining("pg-3 is FAILED by majority; promote it anyway with --force");
        Command forced = OperatorActions.failover(view(w), "pg-3", true).build();
        assertThat(forced.getFailoverStarted().getForced()).isTrue();
        assertThat(forced.getFailoverStarted().getReason()).contains("(forced)");
        assertThatThrownBy(() -> OperatorActions.failover(view(w), "", false))
                .isInstanceOfSatisfying(Refusal.class, e -> assertThat(e.kind()).isEqualTo(Refusal.Kind.BAD_REQUEST));
    }

    @Test
    void failoverToAHealthyReplicaWhileThePrimaryIsHealthyIsASwitchoverUnlessForced() {
        FailoverDeciderTest.World w = new FailoverDeciderTest.World();
        FailoverStarted planned = OperatorActions.failover(view(w), "pg-3", false).build().getFailoverStarted();
        assertThat(planned.getKind()).as("no acknowledged write lost").isEqualTo(EventKind.SWITCHOVER);
        assertThat(planned.getTarget()).isEqualTo("pg-3");
        assertThat(planned.getRequested()).as("only pg-3 may be promoted").isTrue();
        assertThat(planned.getReason()).contains("carried out as a switchover (--force for a failover)");
        FailoverStarted forced = OperatorActions.failover(view(w), "pg-3", true).build().getFailoverStarted();
        assertThat(forced.getKind()).isEqualTo(EventKind.FAILOVER);
        assertThat(forced.getForced()).isTrue();
        assertThat(forced.getRequested()).isTrue();
        assertThat(OperatorActions.switchover(view(w), "").build().getFailoverStarted().getRequested())
                .as("a switchover to the best candidate may move on to another").isFalse();
    }

    @Test
    void nothingStartsWhileAnOperationRuns() {
        FailoverDeciderTest.World w = new FailoverDeciderTest.World();
        w.state.setOperation(Operation.newBuilder().setKind(EventKind.FAILOVER).setTarget("pg-2"));
        assertThatThrownBy(() -> OperatorActions.failover(view(w), "pg-3", true)).hasMessageContaining("in progress");
        assertThatThrownBy(() -> OperatorActions.switchover(view(w), "")).hasMessageContaining("in progress");
    }

    @Test
    void abortEndsAStuckOperationButNotOneWhoseTargetWasPromoted() {
        FailoverDeciderTest.World idle = new FailoverDeciderTest.World();
        assertThatThrownBy(() -> OperatorActions.abort(view(idle), ""))
                .isInstanceOfSatisfying(Refusal.class, e -> assertThat(e.kind()).isEqualTo(Refusal.Kind.NOT_NOW))
                .hasMessageContaining("no failover or switchover is in progress (epoch 4, primary pg-1)");
        FailoverDeciderTest.World stuck = new FailoverDeciderTest.World().started("m1");
        Command c = OperatorActions.abort(view(stuck), " pg-2 never catches up ").build();
        assertThat(c.getEpoch()).isEqualTo(5);
        assertThat(c.getFailoverAborted().getTarget()).isEqualTo("pg-2");
        assertThat(c.getFailoverAborted().getReason()).isEqualTo("asked by an operator: pg-2 never catches up");
        FailoverDeciderTest.World promoted = new FailoverDeciderTest.World().started("m1", "m2", "m3");
        promoted.obs.put("pg-2", NodeObservation.newBuilder().setReachable(true).setTimeline(2).build());
        assertThatThrownBy(() -> OperatorActions.abort(view(promoted), ""))
                .hasMessageContaining("pg-2 has left recovery: it was promoted").hasMessageContaining("two primaries");
    }

    @Test
    void pauseCarriesTheCurrentEpoch() {
        Command c = OperatorActions.pause(new FailoverDeciderTest.World().state.build(), true, "upgrade").build();
        assertThat(c.getEpoch()).isEqualTo(4);
        assertThat(c.getSetPaused().getPaused()).isTrue();
        assertThatThrownBy(() -> OperatorActions.pause(io.metako.proto.v1.ClusterState.getDefaultInstance(), true, ""))
                .hasMessageContaining("not seeded");
    }

    @Test
    void rejoinNowNeedsAQuarantinedManagedNodeAndAHealthyPrimary() {
        FailoverDeciderTest.World w = new FailoverDeciderTest.World().quarantined();
        Command c = OperatorActions.rejoin(view(w), "pg-1").build();
        assertThat(c.getRejoinStarted().getNode()).isEqualTo("pg-1");
        assertThat(c.getRejoinStarted().getMethod()).isEqualTo("rewind_or_clone");
        assertThat(c.getRejoinStarted().getReinit()).isFalse();
        assertThat(c.getProposerTerm()).as("an operator's, not a controller's").isZero();

        assertThatThrownBy(() -> OperatorActions.rejoin(view(w), "pg-3"))
                .hasMessage("pg-3 is REPLICA: only a quarantined node rejoins (metakoctl reinit pg-3 rebuilds a replica)");
        assertThatThrownBy(() -> OperatorActions.rejoin(view(w), "pg-9")).hasMessageContaining("unknown node 'pg-9'");
        assertThatThrownBy(() -> OperatorActions.rejoin(view(new FailoverDeciderTest.World().quarantined().manage("pg-1", "")),
                "pg-1")).hasMessageStartingWith("no instance manages pg-1: set instance.manages");
        assertThatThrownBy(() -> OperatorActions.rejoin(view(new FailoverDeciderTest.World().quarantined()
                .down("pg-2", "m1", "m2")), "pg-1")).hasMessageContaining("the primary pg-2 is not healthy by majority");
        assertThatThrownBy(() -> OperatorActions.rejoin(view(new FailoverDeciderTest.World().quarantined()
                .rejoin("pg-1", FailoverDeciderTest.World.attempt(1, 4))), "pg-1"))
                .hasMessage("attempt 1 to rejoin pg-1 is still running on m1");
    }

    @Test
    void reinitRebuildsAReplicaButNeverThePrimaryOrTheLastSynchronousStandby() {
        FailoverDeciderTest.World w = new FailoverDeciderTest.World().manage("pg-3", "m3");
        Command c = OperatorActions.reinit(view(w), "pg-3").build();
        assertThat(c.getRejoinStarted().getReinit()).isTrue();
        assertThat(c.getRejoinStarted().getMethod()).isEqualTo("clone");

        assertThatThrownBy(() -> OperatorActions.reinit(view(w.manage("pg-1", "m1")), "pg-1"))
                .hasMessageStartingWith("pg-1 is the primary: it cannot be cloned from itself");
        FailoverDeciderTest.World sync = new FailoverDeciderTest.World().manage("pg-3", "m3").sync(1, "pg-3");
        assertThatThrownBy(() -> OperatorActions.reinit(view(sync), "pg-3")).hasMessage("pg-3 is one of the synchronous"
                + " standbys [pg-3] that commits wait for (ANY 1), and without it none healthy and streaming would take"
                + " them: commits would block; add or repair a replica first");
        FailoverDeciderTest.World two = new FailoverDeciderTest.World().manage("pg-3", "m3").sync(1, "pg-2", "pg-3");
        assertThat(OperatorActions.reinit(view(two), "pg-3").build().getRejoinStarted().getReinit())
                .as("another standby of the set still takes the commits").isTrue();
        FailoverDeciderTest.World deadPeer = new FailoverDeciderTest.World().manage("pg-3", "m3").sync(1, "pg-2", "pg-3")
                .down("pg-2", "m1", "m2");
        assertThatThrownBy(() -> OperatorActions.reinit(view(deadPeer), "pg-3"))
                .as("listed in the set is not enough: the other must take the commits now")
                .hasMessageContaining("without it none healthy and streaming would take them");
    }

    @Test
    void anEditIsRefusedWhenTheSettingsChangedWhileItWasOpenAndBadRequestsSayWhy() {
        io.metako.proto.v1.ClusterState s = new FailoverDeciderTest.World().state.build().toBuilder()
                .setSettings(io.metako.server.state.ClusterTransitionsTest.fullSettings()).build();
        java.util.List<io.metako.proto.v1.Setting> seen = io.metako.server.config.ClusterSettingsKeys.of(s.getSettings());
        var edit = io.metako.proto.v1.SetSettingsRequest.newBuilder().setYaml("health_check:\n  interval: 2s\n"
                + "  timeout: 1s\n").addAllExpected(seen);
        assertThat(OperatorActions.settingsChange(s, edit.build()).changes()).extracting(
                io.metako.proto.v1.SettingChange::getKey).containsExactly("health_check.interval");
        io.metako.proto.v1.ClusterState changedMeanwhile = s.toBuilder().setSettings(s.getSettings().toBuilder()
                .setFailover(s.getSettings().getFailover().toBuilder().setCooldownMillis(60_000))).build();
        assertThatThrownBy(() -> OperatorActions.settingsChange(changedMeanwhile, edit.build()))
                .isInstanceOfSatisfying(Refusal.class, r -> {
                    assertThat(r.kind()).isEqualTo(Refusal.Kind.NOT_NOW);
                    assertThat(r.getMessage()).contains("changed since they were read");
                });
        assertThatThrownBy(() -> OperatorActions.settingsChange(s, edit.clone().addSet(io.metako.proto.v1.Setting
                .newBuilder().setKey("failover.cooldown").setValue("1m")).build()))
                .isInstanceOfSatisfying(Refusal.class, r -> assertThat(r.getMessage()).contains("not both"));
        assertThatThrownBy(() -> OperatorActions.settingsChange(s, io.metako.proto.v1.SetSettingsRequest.newBuilder()
                .setYaml("x".repeat(70_000)).build())).isInstanceOfSatisfying(Refusal.class, r ->
                assertThat(r.kind()).isEqualTo(Refusal.Kind.BAD_REQUEST));
        assertThatThrownBy(() -> OperatorActions.addNode(s, io.metako.proto.v1.AddNodeRequest.newBuilder()
                .setName("pg-9").setHost("10.0.0.9;x").setPort(5432).build())).isInstanceOfSatisfying(Refusal.class,
                r -> assertThat(r.getMessage()).startsWith("node pg-9 needs a host name or an IP address"));
    }
}

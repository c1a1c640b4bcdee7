package io.metako.server.control;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.InstanceEntry;
import io.metako.server.state.RaftNode;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MemberRegistryTest {
    private static final long WAIT = 3_000_000_000L;
    private static final RaftNode.Conf THREE = new RaftNode.Conf(List.of(peer("m1"), peer("m2"), peer("m3")), List.of());

    private static RaftNode.Peer peer(String id) {
        return new RaftNode.Peer(id, "127.0.0.1:" + (7100 + id.charAt(1)));
    }

    /** Registered instances that have voted. */
    private static ClusterState registered(String... ids) {
        ClusterState.Builder s = ClusterState.newBuilder().setSeeded(true).setEpoch(4);
        for (String id : ids) {
            s.addInstances(InstanceEntry.newBuilder().setId(id).setRaftAddress(peer(id).raftAddress()).setVoted(true));
        }
        return s.build();
    }

    /** {@code s} with {@code id} registered by members add, not yet seen voting. */
    private static ClusterState joining(ClusterState s, String id) {
        return s.toBuilder().addInstances(InstanceEntry.newBuilder().setId(id).setRaftAddress(peer(id).raftAddress())
                .setApiAddress("127.0.0.1:7204")).build();
    }

    @Test
    void theConfigurationsMembersAreRegisteredWithTheFilesApiAddresses() {
        MemberRegistry r = new MemberRegistry();
        List<Command.Builder> cmds = r.reconcile(registered("m1"), THREE, 7, Map.of("m2", "127.0.0.1:7202"), 0, WAIT, WAIT);
        assertThat(cmds).hasSize(2).allSatisfy(c -> {
            assertThat(c.hasRegisterInstance()).isTrue();
            assertThat(c.getProposerTerm()).isEqualTo(7);
            assertThat(c.getEpoch()).isEqualTo(4);
            assertThat(c.getRegisterInstance().getRequestedBy()).isEmpty();
        });
        assertThat(cmds).extracting(c -> c.getRegisterInstance().getInstance().getApiAddress())
                .containsExactly("127.0.0.1:7202", "");
        assertThat(r.reconcile(registered("m1"), THREE, 7, Map.of(), 1_000_000_000L, WAIT, WAIT))
                .as("not sent again while the first may be in flight").isEmpty();
        assertThat(r.reconcile(registered("m1"), THREE, 7, Map.of(), 2_500_000_000L, WAIT, WAIT)).hasSize(2);
        assertThat(new MemberRegistry().reconcile(ClusterState.getDefaultInstance(), THREE, 7, Map.of(), 0, WAIT, WAIT))
                .as("not before the seed").isEmpty();
        assertThat(new MemberRegistry().reconcile(registered("m1", "m2", "m3"), RaftNode.Conf.NONE, 7, Map.of(), 0, WAIT, WAIT))
                .as("no configuration known: nothing retired").isEmpty();
    }

    @Test
    void aRemovedInstanceCountsUntilItsLeaseHasRunOutOnThisLeader() throws Exception {
        MemberRegistry r = new MemberRegistry();
        ClusterState s = registered("m1", "m2", "m3", "m4");
        assertThat(MemberRegistry.members(s, THREE, List.of())).containsExactly("m1", "m2", "m3", "m4");
        assertThat(r.reconcile(s, THREE, 7, Map.of(), 0, WAIT, WAIT)).isEmpty();
        assertThat(r.reconcile(s, THREE, 7, Map.of(), WAIT - 1, WAIT, WAIT)).isEmpty();
        List<Command.Builder> retire = r.reconcile(s, THREE, 7, Map.of(), WAIT, WAIT, WAIT);
        assertThat(retire).singleElement().satisfies(c -> assertThat(c.getRetireInstance().getId()).isEqualTo("m4"));

        r.reset(); // a leader again later counts from then
        assertThat(r.reconcile(s, THREE, 7, Map.of(), WAIT + 10, WAIT, WAIT)).isEmpty();

        MemberRegistry adding = new MemberRegistry();
        try (AutoCloseable ignored = adding.adding("m4")) {
            assertThat(adding.reconcile(s, THREE, 7, Map.of(), 0, WAIT, WAIT)).isEmpty();
            assertThat(adding.reconcile(s, THREE, 7, Map.of(), 10 * WAIT, WAIT, WAIT)).as("being added by this leader").isEmpty();
        }
        assertThat(adding.reconcile(s, THREE, 7, Map.of(), 11 * WAIT, WAIT, WAIT)).isEmpty();
        assertThat(adding.reconcile(s, THREE, 7, Map.of(), 12 * WAIT, WAIT, WAIT)).hasSize(1);

        RaftNode.Conf changing = new RaftNode.Conf(THREE.current(), List.of(peer("m1"), peer("m2"), peer("m3"), peer("m4")));
        MemberRegistry during = new MemberRegistry();
        assertThat(during.reconcile(s, changing, 7, Map.of(), 0, WAIT, WAIT)).isEmpty();
        assertThat(during.reconcile(s, changing, 7, Map.of(), 5 * WAIT, WAIT, WAIT)).as("still in the previous configuration")
                .isEmpty();
    }

    @Test
    void anInstanceThatNeverVotedIsKeptUntilAnyAddHasTimedOutAndOneThatVotesIsMarked() {
        ClusterState s = joining(registered("m1", "m2", "m3"), "m4");
        MemberRegistry r = new MemberRegistry(); // maybe another leader's add, still catching up
        assertThat(r.reconcile(s, THREE, 7, Map.of(), 0, WAIT, 10 * WAIT)).isEmpty();
        assertThat(r.reconcile(s, THREE, 7, Map.of(), 9 * WAIT, WAIT, 10 * WAIT)).isEmpty();
        assertThat(r.reconcile(s, THREE, 7, Map.of(), 10 * WAIT, WAIT, 10 * WAIT)).singleElement()
                .satisfies(c -> assertThat(c.getRetireInstance().getId()).isEqualTo("m4"));

        RaftNode.Conf four = new RaftNode.Conf(List.of(peer("m1"), peer("m2"), peer("m3"), peer("m4")), List.of());
        List<Command.Builder> marked = new MemberRegistry().reconcile(s, four, 7, Map.of(), 0, WAIT, 10 * WAIT);
        assertThat(marked).singleElement().satisfies(c -> {
            assertThat(c.getRegisterInstance().getInstance().getVoted()).isTrue();
            assertThat(c.getRegisterInstance().getInstance().getApiAddress()).as("its addresses kept")
                    .isEqualTo("127.0.0.1:7204");
        });
    }

    @Test
    void withoutAConfigurationTheFilesPeersCount() {
        assertThat(MemberRegistry.members(registered("m9"), RaftNode.Conf.NONE, List.of("m1", "m2"))).containsExactly("m1", "m2");
        assertThat(MemberRegistry.members(registered(), THREE, List.of("x"))).containsExactly("m1", "m2", "m3");
    }
}

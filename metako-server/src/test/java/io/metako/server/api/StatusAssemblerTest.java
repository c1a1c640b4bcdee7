package io.metako.server.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.Member;
import io.metako.proto.v1.MemberRole;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StatusAssemblerTest {
    static VerdictRecord v(String instance, String node, Verdict verdict) {
        return VerdictRecord.newBuilder().setInstanceId(instance).setNode(node).setVerdict(verdict).build();
    }

    static final List<Member> PEERS = List.of(Member.newBuilder().setId("m1").build(),
            Member.newBuilder().setId("m2").build(), Member.newBuilder().setId("m3").build());

    @Test
    void majorityNeedsMoreThanHalfOfTheGroup() {
        assertThat(io.metako.server.health.HealthByMajority.of(List.of(v("m1", "n", Verdict.DOWN)), 3)).isEqualTo(MajorityHealth.UNDECIDED);
        assertThat(io.metako.server.health.HealthByMajority.of(List.of(v("m1", "n", Verdict.DOWN), v("m2", "n", Verdict.DOWN)), 3))
                .isEqualTo(MajorityHealth.FAILED);
        assertThat(io.metako.server.health.HealthByMajority.of(List.of(v("m1", "n", Verdict.UP), v("m2", "n", Verdict.DOWN),
                v("m3", "n", Verdict.UP)), 3)).isEqualTo(MajorityHealth.HEALTHY);
        assertThat(io.metako.server.health.HealthByMajority.of(List.of(v("m1", "n", Verdict.DOWN), v("m2", "n", Verdict.DOWN)), 5))
                .isEqualTo(MajorityHealth.UNDECIDED);
        assertThat(io.metako.server.health.HealthByMajority.of(List.of(), 1)).isEqualTo(MajorityHealth.UNDECIDED);
    }

    @Test
    void verdictsOfInstancesOutsideTheGroupDoNotCount() {
        ClusterState s = ClusterState.newBuilder().setSeeded(true).setEpoch(1).setPrimary("pg-1")
                .addNodes(Node.newBuilder().setName("pg-1"))
                .addVerdicts(v("m1", "pg-1", Verdict.DOWN)).addVerdicts(v("old-9", "pg-1", Verdict.DOWN)).build();
        ClusterStatus status = StatusAssembler.assemble(s, view("m1", "m2"), Map.of(), "x");
        assertThat(status.getNodes(0).getVerdictsList()).hasSize(1);
        assertThat(status.getNodes(0).getHealth()).isEqualTo(MajorityHealth.UNDECIDED);
    }

    @Test
    void lagIsThePrimarysCurrentLsnMinusTheReplicasReplayLsn() {
        ClusterState s = ClusterState.newBuilder().setSeeded(true).setEpoch(1).setPrimary("pg-1")
                .addNodes(Node.newBuilder().setName("pg-1")).addNodes(Node.newBuilder().setName("pg-2")).build();
        Map<String, NodeObservation> obs = Map.of(
                "pg-1", NodeObservation.newBuilder().setReachable(true).setCurrentLsn("0/5000000").build(),
                "pg-2", NodeObservation.newBuilder().setReachable(true).setInRecovery(true).setReplayLsn("0/4000000").build());
        ClusterStatus status = StatusAssembler.assemble(s, view("m1", "m1"), obs, "x");
        assertThat(status.getNodes(1).getObservation().getLagBytes()).isEqualTo(0x1000000);
        assertThat(status.getNodes(0).getObservation().getLagBytes()).isZero();
    }

    @Test
    void membersGetRolesFromTheLeaderAndSelf() {
        ClusterStatus status = StatusAssembler.assemble(ClusterState.getDefaultInstance(), view("m2", "m3"), Map.of(), "");
        assertThat(status.getMembersList()).extracting(Member::getRole)
                .containsExactly(MemberRole.FOLLOWER, MemberRole.FOLLOWER, MemberRole.LEADER);
        assertThat(status.getMembersList()).extracting(Member::getSelf).containsExactly(false, true, false);
        ClusterStatus noLeader = StatusAssembler.assemble(ClusterState.getDefaultInstance(), view("m2", null), Map.of(), "");
        assertThat(noLeader.getMembersList()).extracting(Member::getRole)
                .containsExactly(MemberRole.UNKNOWN_ROLE, MemberRole.CANDIDATE_MEMBER, MemberRole.UNKNOWN_ROLE);
    }

    private static StatusAssembler.RaftView view(String self, String leader) {
        MemberRole selfRole = leader == null ? MemberRole.CANDIDATE_MEMBER
                : self.equals(leader) ? MemberRole.LEADER : MemberRole.FOLLOWER;
        return new StatusAssembler.RaftView(self, leader, 3, 10, selfRole, PEERS);
    }
}

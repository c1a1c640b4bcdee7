package io.metako.server.state;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.InstanceEntry;
import io.metako.proto.v1.RegisterInstance;
import io.metako.proto.v1.RetireInstance;
import org.junit.jupiter.api.Test;

class MemberTransitionsTest {
    static Command register(String id, String raft, String api, String by) {
        return Command.newBuilder().setEpoch(1).setTimeMillis(7000).setProposer("metako-1")
                .setRegisterInstance(RegisterInstance.newBuilder().setRequestedBy(by).setInstance(
                        InstanceEntry.newBuilder().setId(id).setRaftAddress(raft).setApiAddress(api))).build();
    }

    static Command retire(String id, long proposerTerm) {
        return Command.newBuilder().setEpoch(1).setTimeMillis(8000).setProposer("metako-1").setProposerTerm(proposerTerm)
                .setRetireInstance(RetireInstance.newBuilder().setId(id)).build();
    }

    @Test
    void anOperatorsRegistrationIsRecordedAndTheLeadersUpkeepIsSilent() {
        ClusterState s = ClusterTransitionsTest.seeded();
        ClusterTransitions.Outcome added = ClusterTransitions.apply(s, register("metako-4", "10.0.0.4:7100",
                "10.0.0.4:7200", "ops@h"), 2);
        assertThat(added.applied()).isTrue();
        assertThat(added.state().getInstancesList()).extracting(InstanceEntry::getId).containsExactly("metako-4");
        assertThat(added.state().getHistory(added.state().getHistoryCount() - 1)).satisfies(e -> {
            assertThat(e.getKind()).isEqualTo(EventKind.MEMBER_ADDED);
            assertThat(e.getMember()).isEqualTo("metako-4");
            assertThat(e.getRequestedBy()).isEqualTo("ops@h");
            assertThat(e.getInstance()).isEqualTo("metako-1");
        });
        ClusterTransitions.Outcome upkeep = ClusterTransitions.apply(added.state(), register("metako-1", "10.0.0.1:7100",
                "", ""), 2);
        assertThat(upkeep.applied()).isTrue();
        assertThat(upkeep.state().getInstancesList()).extracting(InstanceEntry::getId).containsExactly("metako-1", "metako-4");
        assertThat(upkeep.state().getHistoryCount()).as("the leader's registering of a member: no event")
                .isEqualTo(added.state().getHistoryCount());
        ClusterTransitions.Outcome again = ClusterTransitions.apply(upkeep.state(), register("metako-4", "10.0.0.4:7100",
                "10.0.0.44:7200", "ops@h"), 2);
        assertThat(again.applied()).isTrue();
        assertThat(again.state().getInstancesList()).hasSize(2).anyMatch(i -> i.getApiAddress().equals("10.0.0.44:7200"));
        assertThat(again.state().getHistoryCount()).as("new addresses only").isEqualTo(upkeep.state().getHistoryCount());
        ClusterState voted = ClusterTransitions.apply(again.state(), Command.newBuilder(register("metako-4",
                "10.0.0.4:7100", "10.0.0.44:7200", "")).setRegisterInstance(RegisterInstance.newBuilder().setInstance(
                InstanceEntry.newBuilder().setId("metako-4").setRaftAddress("10.0.0.4:7100").setVoted(true))).build(), 2)
                .state();
        ClusterState readdressed = ClusterTransitions.apply(voted, register("metako-4", "10.0.0.4:7100", "10.0.0.4:7300",
                "ops@h"), 2).state();
        assertThat(readdressed.getInstancesList()).filteredOn(i -> i.getId().equals("metako-4")).singleElement()
                .satisfies(i -> assertThat(i.getVoted()).as("voted is sticky").isTrue());
    }

    @Test
    void emptyEntriesAndTakenAddressesAreRefused() {
        ClusterState s = ClusterTransitions.apply(ClusterTransitionsTest.seeded(), register("metako-4", "10.0.0.4:7100",
                "", "ops"), 2).state();
        // the forms (id characters, host:port) are the proposer's checks; apply keeps to rules that never change
        assertThat(ClusterTransitions.apply(s, register("", "10.0.0.5:7100", "", "ops"), 2).rejection()).contains("an id");
        assertThat(ClusterTransitions.apply(s, register("metako-5", "", "", "ops"), 2).rejection())
                .contains("a Raft address");
        assertThat(ClusterTransitions.apply(s, register("metako-5", "10.0.0.4:7100", "", "ops"), 2).rejection())
                .contains("Raft address of instance metako-4");
    }

    @Test
    void onlyTheLeadersControllerEndsARegistration() {
        ClusterState s = ClusterTransitions.apply(ClusterTransitionsTest.seeded(), register("metako-4", "10.0.0.4:7100",
                "", "ops"), 2).state();
        assertThat(ClusterTransitions.apply(s, retire("metako-4", 0), 2).rejection()).contains("only the leader");
        assertThat(ClusterTransitions.apply(s, retire("metako-4", 1), 2).rejection()).as("a deposed leader's")
                .contains("stale leader");
        assertThat(ClusterTransitions.apply(s, retire("metako-9", 2), 2).rejection()).contains("no instance metako-9");
        ClusterTransitions.Outcome retired = ClusterTransitions.apply(s, retire("metako-4", 2), 2);
        assertThat(retired.applied()).isTrue();
        assertThat(retired.state().getInstancesList()).isEmpty();
        assertThat(retired.state().getHistory(retired.state().getHistoryCount() - 1).getKind())
                .isEqualTo(EventKind.MEMBER_REMOVED);
    }
}

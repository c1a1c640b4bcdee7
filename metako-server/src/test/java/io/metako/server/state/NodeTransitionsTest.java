package io.metako.server.state;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.AddNode;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.Operation;
import io.metako.proto.v1.RemoveNode;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import org.junit.jupiter.api.Test;

class NodeTransitionsTest {
    static Command add(String name, String host, int port, boolean clone) {
        return Command.newBuilder().setEpoch(1).setTimeMillis(5000).setProposer("metako-1").setAddNode(AddNode.newBuilder()
                .setNode(Node.newBuilder().setName(name).setHost(host).setPort(port)).setClone(clone)
                .setRequestedBy("ops@h")).build();
    }

    static Command remove(String name) {
        return Command.newBuilder().setEpoch(1).setTimeMillis(6000).setProposer("metako-2")
                .setRemoveNode(RemoveNode.newBuilder().setNode(name).setRequestedBy("ops@h")).build();
    }

    @Test
    void anAddedNodeIsQuarantinedUntilItIsProvenAndRecorded() {
        ClusterTransitions.Outcome o = ClusterTransitions.apply(ClusterTransitionsTest.seeded(), add("pg-4", "10.0.0.4", 5432, true), 2);
        assertThat(o.applied()).isTrue();
        Node n = Nodes.named(o.state(), "pg-4").orElseThrow();
        assertThat(n.getRole()).isEqualTo(NodeRole.QUARANTINED);
        assertThat(n.getRejoin().getReinit()).as("its first rejoin is a clone").isTrue();
        assertThat(n.getDatabase()).isEqualTo("postgres");
        assertThat(o.state().getNodesList()).extracting(Node::getName).containsExactly("pg-1", "pg-2", "pg-3", "pg-4");
        assertThat(o.state().getEpoch()).as("no change of primary").isEqualTo(1);
        assertThat(o.state().getHistory(o.state().getHistoryCount() - 1)).satisfies(e -> {
            assertThat(e.getKind()).isEqualTo(EventKind.NODE_ADDED);
            assertThat(e.getNode()).isEqualTo("pg-4");
            assertThat(e.getRequestedBy()).isEqualTo("ops@h");
        });
    }

    @Test
    void aBadOrDuplicateNodeIsRefused() {
        ClusterState s = ClusterTransitionsTest.seeded();
        Node pg2 = Nodes.named(s, "pg-2").orElseThrow();
        assertThat(ClusterTransitions.apply(s, add("pg-2", "10.0.0.9", 5432, false), 2).rejection())
                .isEqualTo("there is a node pg-2 already");
        assertThat(ClusterTransitions.apply(s, add("pg-9", pg2.getHost(), pg2.getPort(), false), 2).rejection())
                .endsWith("is node pg-2 already");
        assertThat(ClusterTransitions.apply(s, add("pg 9", "h", 1, false), 2).rejection()).contains("no spaces or URL");
        assertThat(ClusterTransitions.apply(s, add("pg-9", "h", 70_000, false), 2).rejection()).contains("port from 1 to 65535");
    }

    @Test
    void aRemovedNodeLeavesWithItsVerdictsButNeverThePrimaryOrANodeInUse() {
        ClusterState s = ClusterTransitionsTest.seeded().toBuilder().addVerdicts(VerdictRecord.newBuilder()
                .setInstanceId("metako-1").setNode("pg-3").setVerdict(Verdict.UP)).addVerdicts(VerdictRecord.newBuilder()
                .setInstanceId("metako-1").setNode("pg-2").setVerdict(Verdict.UP)).build();
        ClusterTransitions.Outcome o = ClusterTransitions.apply(s, remove("pg-3"), 2);
        assertThat(o.applied()).isTrue();
        assertThat(o.state().getNodesList()).extracting(Node::getName).containsExactly("pg-1", "pg-2");
        assertThat(o.state().getVerdictsList()).extracting(VerdictRecord::getNode).containsExactly("pg-2");
        assertThat(o.state().getHistory(o.state().getHistoryCount() - 1).getKind()).isEqualTo(EventKind.NODE_REMOVED);

        assertThat(ClusterTransitions.apply(s, remove("pg-1"), 2).rejection()).startsWith("pg-1 is the primary");
        assertThat(ClusterTransitions.apply(s, remove("pg-7"), 2).rejection()).isEqualTo("there is no node pg-7");
        ClusterState busy = s.toBuilder().setOperation(Operation.newBuilder().setKind(EventKind.SWITCHOVER)
                .setTarget("pg-3").setOldPrimary("pg-1")).build();
        assertThat(ClusterTransitions.apply(busy, remove("pg-3"), 2).rejection()).contains("switchover in progress involves pg-3");
        ClusterState sync = s.toBuilder().addSynchronousStandbys("pg-2").setSettings(s.getSettings().toBuilder()
                .setReplication(s.getSettings().getReplication().toBuilder().setMode("sync").setSyncStandbys(1))).build();
        assertThat(ClusterTransitions.apply(sync, remove("pg-2"), 2).rejection()).contains("is in the synchronous set [pg-2]");
        assertThat(ClusterTransitions.apply(sync, remove("pg-3"), 2).applied()).isTrue();
    }

    @Test
    void aNodeCanComeBackAfterItsRemovalAndNothingButAnAddressIsTakenAsAHost() {
        assertThat(Nodes.urlSafe("fd00::9%eth0")).isTrue();
        ClusterState s = ClusterTransitions.apply(ClusterTransitionsTest.seeded(), remove("pg-3"), 2).state();
        ClusterTransitions.Outcome back = ClusterTransitions.apply(s, add("pg-3", "10.0.0.3", 5432, false), 2);
        assertThat(back.applied()).isTrue();
        assertThat(Nodes.named(back.state(), "pg-3").orElseThrow().getRole()).isEqualTo(NodeRole.QUARANTINED);
        assertThat(ClusterTransitions.apply(s, add("pg-9", "h/postgres?sslmode=disable&x=", 5432, false), 2).rejection())
                .contains("no spaces or URL metacharacters");
        Command badDatabase = add("pg-9", "10.0.0.9", 5432, false).toBuilder().setAddNode(add("pg-9", "10.0.0.9", 5432, false)
                .getAddNode().toBuilder().setNode(Node.newBuilder().setName("pg-9").setHost("10.0.0.9").setPort(5432)
                        .setDatabase("db?socketFactory=x"))).build();
        assertThat(ClusterTransitions.apply(s, badDatabase, 2).rejection()).contains("no spaces or URL metacharacters");
        // the operator's request is checked more closely first, with a message for people
        assertThat(Nodes.problemOf(Node.newBuilder().setName("pg-9").setHost("10.0.0.9").setPort(5432)
                .setDatabase("db?socketFactory=x").build())).contains("needs a database name");
        assertThat(Nodes.problemOf(Node.newBuilder().setName("pg-9").setHost("pg_9").setPort(5432).build()))
                .as("a Compose service name").isNull();
        assertThat(ClusterTransitions.apply(s, add("pg-9", "fd00::9", 5432, false), 2).applied()).as("IPv6").isTrue();
    }
}

package io.metako.server.state;

import io.metako.proto.v1.AddNode;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.EventKind;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRejoin;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.RemoveNode;
import io.metako.proto.v1.TopologyEvent;
import io.metako.server.state.ClusterTransitions.Outcome;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Nodes entering and leaving the topology ({@code metakoctl node add / remove}). Pure, as every transition. A new
 * node is QUARANTINED: no traffic and no promotion until the leader sees it stream from the primary on the primary's
 * timeline (adopted), or its managing instance has cloned it; the rejoin rules then take it in, so a node of
 * unknown history never serves before it is proven to hold nothing the primary lacks.
 */
final class NodeTransitions {
    private NodeTransitions() {
    }

    static Outcome add(ClusterState state, Command command, long term) {
        AddNode a = command.getAddNode();
        Node n = a.getNode();
        if (!state.getSeeded()) {
            return Outcome.rejected(state, "not seeded yet");
        }
        // stable rules only (the log's meaning must not change with the version): the proposer checks the rest
        if (n.getName().isEmpty() || n.getHost().isEmpty() || n.getPort() < 1 || n.getPort() > 65_535
                || !Nodes.urlSafe(n.getName()) || !Nodes.urlSafe(n.getHost()) || !Nodes.urlSafe(n.getDatabase())) {
            return Outcome.rejected(state, "a node needs a name, a host and a port from 1 to 65535, and no spaces or URL"
                    + " metacharacters in its name, host or database");
        }
        for (Node other : state.getNodesList()) {
            if (other.getName().equals(n.getName())) {
                return Outcome.rejected(state, "there is a node " + n.getName() + " already");
            }
            if (other.getHost().equals(n.getHost()) && other.getPort() == n.getPort()) {
                return Outcome.rejected(state, n.getHost() + ":" + n.getPort() + " is node " + other.getName() + " already");
            }
        }
        Node added = n.toBuilder().setRole(NodeRole.QUARANTINED).clearManagingInstance().clearTimeline()
                .setRejoin(NodeRejoin.newBuilder().setReinit(a.getClone()))
                .setDatabase(n.getDatabase().isEmpty() ? "postgres" : n.getDatabase()).build();
        List<Node> nodes = new ArrayList<>(state.getNodesList());
        nodes.add(added);
        nodes.sort(Comparator.comparing(Node::getName));
        TopologyEvent event = TopologyEvent.newBuilder().setKind(EventKind.NODE_ADDED).setTimeMillis(command.getTimeMillis())
                .setTerm(term).setEpoch(state.getEpoch()).setNode(n.getName()).setRequestedBy(a.getRequestedBy())
                .setInstance(command.getProposer())
                .setReason("node " + n.getName() + " (" + n.getHost() + ":" + n.getPort() + ") added"
                        + (a.getRequestedBy().isEmpty() ? "" : " by " + a.getRequestedBy()) + "; it takes traffic once it "
                        + (a.getClone() ? "is cloned from the primary by its managing instance and streams"
                        : "streams from the primary"))
                .build();
        return Outcome.applied(state.toBuilder().clearNodes().addAllNodes(nodes).clearHistory()
                .addAllHistory(FailoverTransitions.appended(state, event)).setLastChangeMillis(command.getTimeMillis())
                .build());
    }

    static Outcome remove(ClusterState state, Command command, long term) {
        RemoveNode r = command.getRemoveNode();
        String name = r.getNode();
        if (!state.getSeeded()) {
            return Outcome.rejected(state, "not seeded yet");
        }
        Node node = Nodes.named(state, name).orElse(null);
        if (node == null) {
            return Outcome.rejected(state, "there is no node " + name);
        }
        if (name.equals(state.getPrimary()) || node.getRole() == NodeRole.PRIMARY) {
            return Outcome.rejected(state, name + " is the primary: switch over to another node first"
                    + " (metakoctl switchover), then remove it");
        }
        if (state.hasOperation() && (name.equals(state.getOperation().getTarget())
                || name.equals(state.getOperation().getOldPrimary()))) {
            return Outcome.rejected(state, "the " + state.getOperation().getKind().name().toLowerCase(java.util.Locale.ROOT)
                    + " in progress involves " + name + ": wait for it to end (metakoctl watch)");
        }
        if ("sync".equals(state.getSettings().getReplication().getMode()) && state.getSynchronousStandbysList().contains(name)) {
            return Outcome.rejected(state, name + " is in the synchronous set " + state.getSynchronousStandbysList()
                    + ": the primary may count on it for acknowledged commits. Stop it, and remove it once the set no"
                    + " longer names it: it leaves the set only while enough other replicas stream (the set never"
                    + " shrinks below replication.sync_standbys), so add another replica or lower sync_standbys first"
                    + " where there is none");
        }
        List<Node> nodes = state.getNodesList().stream().filter(n -> !n.getName().equals(name)).toList();
        TopologyEvent event = TopologyEvent.newBuilder().setKind(EventKind.NODE_REMOVED).setTimeMillis(command.getTimeMillis())
                .setTerm(term).setEpoch(state.getEpoch()).setNode(name).setRequestedBy(r.getRequestedBy())
                .setInstance(command.getProposer())
                .setReason("node " + name + " removed" + (r.getRequestedBy().isEmpty() ? "" : " by " + r.getRequestedBy())
                        + "; it gets no traffic and is no longer probed")
                .build();
        return Outcome.applied(state.toBuilder().clearNodes().addAllNodes(nodes)
                .clearVerdicts().addAllVerdicts(state.getVerdictsList().stream().filter(v -> !v.getNode().equals(name)).toList())
                .clearSynchronousStandbys().addAllSynchronousStandbys(state.getSynchronousStandbysList().stream()
                        .filter(x -> !x.equals(name)).toList())
                .clearHistory().addAllHistory(FailoverTransitions.appended(state, event))
                .setLastChangeMillis(command.getTimeMillis()).build());
    }
}

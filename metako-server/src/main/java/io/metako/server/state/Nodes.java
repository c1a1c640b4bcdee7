package io.metako.server.state;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import java.util.Optional;

/** Lookups in a cluster state's node list, and the one definition of "a replica's upstream is this node". */
public final class Nodes {
    private Nodes() {
    }

    /** The node called {@code name}, if the state has one. */
    public static Optional<Node> named(ClusterState state, String name) {
        return state.getNodesList().stream().filter(n -> n.getName().equals(name)).findFirst();
    }

    /** {@code state} with {@code node} in place of the node of the same name. */
    public static ClusterState replaced(ClusterState state, Node node) {
        return state.toBuilder().clearNodes().addAllNodes(state.getNodesList().stream()
                .map(n -> n.getName().equals(node.getName()) ? node : n).toList()).build();
    }

    /** Whether the WAL receiver seen in {@code o} points at {@code upstream} (by the address the log holds). */
    public static boolean upstreamIs(NodeObservation o, Node upstream) {
        return o.getUpstreamPort() == upstream.getPort() && o.getUpstreamHost().equals(upstream.getHost());
    }
}

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

    private static final java.util.regex.Pattern NAME = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}");
    /** A host name, an IPv4 address or an IPv6 address (no brackets): nothing that could add to a JDBC URL. */
    /** A host name (underscores too: Compose service names), an IPv4 address or an IPv6 address (no brackets). */
    private static final java.util.regex.Pattern HOST = java.util.regex.Pattern.compile("[A-Za-z0-9_:][A-Za-z0-9_.:%-]{0,252}");
    private static final java.util.regex.Pattern DATABASE = java.util.regex.Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.$-]{0,62}");

    /**
     * Whether {@code s} holds none of the characters that would change a JDBC URL it is put into. A rule of the log
     * (applied by every instance): it must never change.
     */
    static boolean urlSafe(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c <= ' ' || c >= 0x7f || "/?#&@=;[]\\\"'".indexOf(c) >= 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * What is wrong with a node an operator adds (its name, host, port, database: they end up in connection URLs
     * and file names), or null. The host must be a host name or an IP address, the database an identifier.
     */
    public static String problemOf(Node n) {
        if (!NAME.matcher(n.getName()).matches()) {
            return "a node name is letters, digits, '.', '_' or '-' (at most 63), got '" + printable(n.getName()) + "'";
        }
        if (!HOST.matcher(n.getHost()).matches()) {
            return "node " + n.getName() + " needs a host name or an IP address, got '" + printable(n.getHost()) + "'";
        }
        if (n.getPort() < 1 || n.getPort() > 65_535) {
            return "node " + n.getName() + " needs a port from 1 to 65535, got " + n.getPort();
        }
        if (!n.getDatabase().isEmpty() && !DATABASE.matcher(n.getDatabase()).matches()) {
            return "node " + n.getName() + " needs a database name of letters, digits and '_' (at most 63), got '"
                    + printable(n.getDatabase()) + "'";
        }
        return null;
    }

    private static String printable(String s) {
        String t = s.replaceAll("[^\\x20-\\x7e]", "?");
        return t.length() > 64 ? t.substring(0, 64) + "..." : t;
    }

    /** Whether the WAL receiver seen in {@code o} points at {@code upstream} (by the address the log holds). */
    public static boolean upstreamIs(NodeObservation o, Node upstream) {
        return o.getUpstreamPort() == upstream.getPort() && o.getUpstreamHost().equals(upstream.getHost());
    }
}

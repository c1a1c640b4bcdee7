package io.metako.server.config;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.Setting;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where an instance's file disagrees with the replicated cluster-wide state it acts on: a cluster-wide setting, or a
 * node's address or presence. Never applied (the replicated value counts); shown in {@code status} so the file can
 * be brought in line, or the change made with {@code metakoctl config set}. Pure.
 */
public final class ConfigDrift {
    private ConfigDrift() {
    }

    public static List<String> of(MetakoConfig file, ClusterState state) {
        if (!state.getSeeded()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        Map<String, String> inForce = new LinkedHashMap<>();
        ClusterSettingsKeys.of(state.getSettings()).forEach(s -> inForce.put(s.getKey(), s.getValue()));
        for (Setting s : ClusterSettingsKeys.of(ClusterWide.of(file).toProto())) {
            String cluster = inForce.get(s.getKey());
            if (cluster != null && !cluster.equals(s.getValue())) {
                out.add(s.getKey() + ": this instance's file says " + s.getValue() + ", the cluster uses " + cluster
                        + " (metakoctl config set changes the cluster's)");
            }
        }
        Map<String, Node> replicated = new LinkedHashMap<>();
        state.getNodesList().stream().filter(n -> n.getRole() != NodeRole.REMOVED).forEach(n -> replicated.put(n.getName(), n));
        for (NodeConfig n : file.nodes()) {
            Node r = replicated.remove(n.name());
            if (r == null) {
                out.add("nodes." + n.name() + ": in this instance's file, not in the cluster");
            } else if (!r.getHost().equals(n.host()) || r.getPort() != n.port()) {
                out.add("nodes." + n.name() + ": this instance's file says " + n.address() + ", the cluster uses "
                        + r.getHost() + ":" + r.getPort());
            }
        }
        replicated.keySet().forEach(name -> out.add("nodes." + name + ": in the cluster, not in this instance's file"
                + " (this instance has no credentials for it)"));
        return out;
    }
}

package io.metako.server;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeRole;
import io.metako.proto.v1.NodeTags;
import io.metako.proto.v1.SeedCluster;
import io.metako.server.config.ClusterWide;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.NodeConfig;

/** The {@link SeedCluster} command an instance proposes from its configuration file. */
public final class SeedFactory {
    private SeedFactory() {
    }

    public static SeedCluster seedOf(MetakoConfig c) {
        SeedCluster.Builder b = SeedCluster.newBuilder().setClusterName(c.clusterName()).setSettings(settingsOf(c));
        for (NodeConfig n : c.nodes()) {
            b.addNodes(Node.newBuilder().setName(n.name()).setHost(n.host()).setPort(n.port())
                    .setDatabase(n.database())
                    .setRole(n.initialRole() == NodeConfig.Role.PRIMARY ? NodeRole.PRIMARY : NodeRole.REPLICA)
                    .setTags(NodeTags.newBuilder().setPriority(n.priority()).setNofailover(n.nofailover())
                            .setNoloadbalance(n.noloadbalance())));
            if (n.initialRole() == NodeConfig.Role.PRIMARY) {
                b.setPrimary(n.name());
            }
        }
        return b.build();
    }

    static ClusterSettings settingsOf(MetakoConfig c) {
        return ClusterWide.of(c).toProto();
    }
}

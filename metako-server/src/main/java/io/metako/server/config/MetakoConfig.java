package io.metako.server.config;

import java.util.List;
import java.util.Optional;

/**
 * One instance's whole configuration: the instance-local part (who it is, where it listens,
 * its peers) and the cluster-wide part (nodes and policies) that seeds the replicated state
 * the first time the group starts.
 */
public record MetakoConfig(
        String clusterName,
        InstanceConfig instance,
        List<PeerConfig> peers,
        ProxyConfig proxy,
        List<NodeConfig> nodes,
        HealthCheckConfig healthCheck,
        LoadBalancerConfig loadBalancer,
        FailoverConfig failover,
        ReplicationConfig replication,
        SecurityConfig security,
        RejoinConfig rejoin,
        HttpConfig http,
        LoggingConfig logging) {

    public MetakoConfig {
        peers = List.copyOf(peers);
        nodes = List.copyOf(nodes);
    }

    public Optional<NodeConfig> node(String name) {
        return nodes.stream().filter(n -> n.name().equals(name)).findFirst();
    }

    /** How this instance reaches node {@code name}, when it differs from the cluster-wide address. */
    public Optional<HostPort> nodeAddressOverride(String name) {
        return Optional.ofNullable(instance.nodeAddresses().get(name));
    }

    public PeerConfig self() {
        return peers.stream().filter(p -> p.id().equals(instance.id())).findFirst().orElseThrow();
    }
}

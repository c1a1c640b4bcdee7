package io.metako.server.config;

import java.nio.file.Path;

/**
 * What makes this instance itself: its id, where it listens, where it keeps its Raft log, and
 * how it reaches nodes whose cluster-wide address is not reachable from here (NAT, a second
 * network): {@code nodeAddresses} maps a node name to the address this instance uses instead.
 */
public record InstanceConfig(
        String id,
        HostPort raftAddress,
        HostPort grpcAddress,
        HostPort httpAddress,
        Path storageDir,
        Secret authToken,
        java.util.Map<String, HostPort> nodeAddresses) {

    public InstanceConfig {
        nodeAddresses = java.util.Map.copyOf(nodeAddresses);
    }
}

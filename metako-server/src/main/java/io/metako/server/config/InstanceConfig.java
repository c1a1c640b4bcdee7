package io.metako.server.config;

import java.nio.file.Path;

/**
 * What makes this instance itself: its id, where it listens, where it keeps its Raft log, and
 * how it reaches nodes whose cluster-wide address is not reachable from here (NAT, a second
 * network): {@code nodeAddresses} maps a node name to the address this instance uses instead.
 * {@code authToken} is the admin API's admin token (every call); {@code readToken}, when present, may only
 * read (status, watch, members, history). {@code manages}: the node this instance runs beside and manages.
 */
public record InstanceConfig(
        String id,
        HostPort raftAddress,
        HostPort grpcAddress,
        HostPort httpAddress,
        Path storageDir,
        Secret authToken,
        java.util.Map<String, HostPort> nodeAddresses,
        Secret readToken,
        java.util.Optional<ManagedNode> manages) {

    public InstanceConfig {
        nodeAddresses = java.util.Map.copyOf(nodeAddresses);
    }

    /** Managing no node. */
    public InstanceConfig(String id, HostPort raftAddress, HostPort grpcAddress, HostPort httpAddress, Path storageDir,
                          Secret authToken, java.util.Map<String, HostPort> nodeAddresses, Secret readToken) {
        this(id, raftAddress, grpcAddress, httpAddress, storageDir, authToken, nodeAddresses, readToken,
                java.util.Optional.empty());
    }

    /** Without a read-only token. */
    public InstanceConfig(String id, HostPort raftAddress, HostPort grpcAddress, HostPort httpAddress, Path storageDir,
                          Secret authToken, java.util.Map<String, HostPort> nodeAddresses) {
        this(id, raftAddress, grpcAddress, httpAddress, storageDir, authToken, nodeAddresses, Secret.none());
    }
}

package io.metako.server.config;

import java.nio.file.Path;

/** What makes this instance itself: its id, where it listens, where it keeps its Raft log. */
public record InstanceConfig(
        String id,
        HostPort raftAddress,
        HostPort grpcAddress,
        HostPort httpAddress,
        Path storageDir,
        Secret authToken) {
}

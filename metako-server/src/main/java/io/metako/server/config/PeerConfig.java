package io.metako.server.config;

/** A member of the Raft group; {@code grpcAddress} lets clients be pointed at the leader. */
public record PeerConfig(String id, HostPort raftAddress, HostPort grpcAddress) {
}

package io.metako.server.api;

import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.ListMembersResponse;

/** What the admin API reads from the running instance. */
public interface StatusSource {
    ClusterStatus status();

    ListMembersResponse members();

    /** Runs {@code listener} after every applied change of the replicated state, until closed. */
    AutoCloseable onChange(Runnable listener);
}

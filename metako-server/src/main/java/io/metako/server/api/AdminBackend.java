package io.metako.server.api;

import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.GetHistoryResponse;
import io.metako.proto.v1.ListMembersResponse;
import io.metako.proto.v1.MutationResponse;

/** What the admin API reads from, and asks of, the running instance. */
public interface AdminBackend {
    ClusterStatus status();

    ListMembersResponse members();

    /** Runs {@code listener} after every applied change of the replicated state, until closed. */
    AutoCloseable onChange(Runnable listener);

    default io.metako.proto.v1.GetSettingsResponse settings() {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "settings are not served here");
    }

    default io.metako.proto.v1.SetSettingsResponse setSettings(io.metako.proto.v1.SetSettingsRequest request) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "settings changes are not served here");
    }

    default io.metako.proto.v1.ReloadResponse reload() {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "reload is not served here");
    }

    default MutationResponse addNode(io.metako.proto.v1.AddNodeRequest request) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "node add is not served here");
    }

    default MutationResponse removeNode(io.metako.proto.v1.RemoveNodeRequest request) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "node remove is not served here");
    }

    default MutationResponse addMember(io.metako.proto.v1.AddMemberRequest request) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "members add is not served here");
    }

    default MutationResponse removeMember(io.metako.proto.v1.RemoveMemberRequest request) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "members remove is not served here");
    }

    default GetHistoryResponse history() {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "history is not served here");
    }

    default MutationResponse setPaused(boolean paused, String reason) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "pause/resume is not served here");
    }

    default MutationResponse switchover(String target) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "switchover is not served here");
    }

    default MutationResponse rejoin(String node) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "rejoin is not served here");
    }

    default MutationResponse reinit(String node) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "reinit is not served here");
    }

    default MutationResponse abort(String reason) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "abort is not served here");
    }

    default MutationResponse failover(String target, boolean force) {
        throw new AdminException(AdminException.Kind.UNAVAILABLE, "failover is not served here");
    }
}

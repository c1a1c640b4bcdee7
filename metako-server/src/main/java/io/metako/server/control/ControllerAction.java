package io.metako.server.control;

import io.metako.proto.v1.CandidateLsn;
import java.util.List;

/** One step the failover controller asks the loop around it to carry out. */
public sealed interface ControllerAction {
    /** Propose {@code FailoverStarted}: the epoch moves on, writes to the old primary stop. */
    record StartFailover(String oldPrimary, String target, List<CandidateLsn> candidates, String reason)
            implements ControllerAction {
    }

    /** Best effort: make {@code node} read-only and end its client sessions. */
    record Fence(String node) implements ControllerAction {
    }

    /** Undo a fence: the primary of the current epoch accepts writes again. */
    record Unfence(String node) implements ControllerAction {
    }

    /**
     * {@code pg_promote} on {@code node}, then verify it left recovery. In synchronous mode
     * {@code synchronousStandbyNames} is set first, so the first commit on the new primary
     * already waits for a standby; null leaves the setting alone.
     */
    record Promote(String node, String synchronousStandbyNames) implements ControllerAction {
        public Promote(String node) {
            this(node, null);
        }
    }

    /** Propose {@code FailoverCompleted}: {@code node} is the primary of the current epoch. */
    record CompleteFailover(String node, long timeline) implements ControllerAction {
    }

    /** Propose {@code FailoverAborted}: the old primary is primary again at the next epoch. */
    /** The failover's target cannot take over any more: {@code target} becomes it, through the log. */
    record RetargetFailover(String target, String reason) implements ControllerAction {
    }

    record AbortFailover(String reason) implements ControllerAction {
    }

    /** Propose {@code SetSynchronousStandbys}: the replicated synchronous set becomes {@code names}. */
    record SetSyncSet(List<String> names) implements ControllerAction {
    }

    /** Set the primary's {@code synchronous_standby_names} to {@code ANY n (names)} (reset when empty). */
    record ConfigureSync(String primary, List<String> names, int n) implements ControllerAction {
    }

    /** Propose {@code RejoinStarted}: {@code node}'s managing instance brings it back as a replica. */
    record StartRejoin(String node, String method) implements ControllerAction {
    }

    /** Propose {@code RejoinCompleted}: {@code node} streams from the primary and is a replica again. */
    record CompleteRejoin(String node, boolean adopted, long attempt) implements ControllerAction {
    }

    /** Point {@code replica}'s {@code primary_conninfo} at {@code primary} and reload it. */
    record Repoint(String replica, String primary) implements ControllerAction {
    }
}

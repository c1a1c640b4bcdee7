package io.metako.proxy.session;

import io.netty.buffer.ByteBuf;

/**
 * Whoever a {@link BackendLink} belongs to now: the client session it serves, or the {@link BackendPool}
 * it waits in between sessions. The link reports its events here and never asks which of the two it has.
 * Every method runs on the link's event loop.
 */
interface LinkOwner {
    /** What becomes of a NotificationResponse or NoticeResponse that arrives between units. */
    enum AsyncDelivery {
        /** Passed on now: nothing else is being relayed. */
        RELAY,
        /** Kept until the unit running on another backend has been answered ({@link #holdAsync}). */
        HOLD,
        /** Nobody to tell. */
        DROP
    }

    /** The link finished logging in. */
    void linkReady(BackendLink link);

    /** The connection ended (or never opened); {@code was} is the phase it was in. */
    void linkClosed(BackendLink link, BackendLink.Phase was);

    /** A read from the backend was handled: the owner decides when the link reads again. */
    void readComplete(BackendLink link);

    void writabilityChanged(BackendLink link);

    /** The backend sent an error outside any unit: it is ending the connection. */
    void errorOutsideUnit(BackendLink link);

    AsyncDelivery asyncDelivery();

    /** A notification or notice (its type and payload, valid during the call only) to pass on later. */
    void holdAsync(byte type, ByteBuf payload);

    /** Bytes of the session's unit to pass on to the client; ownership passes to the owner. */
    void relay(ByteBuf bytes);

    /** The backend answered the first message of the session's unit in flight. */
    void unitAnswered(BackendLink link);

    /** Whether the session's unit in flight on {@code link}, not yet answered, may run again elsewhere. */
    boolean retryInstead(BackendLink link);

    /** A unit of the session's was answered by ReadyForQuery ({@code status}: I, T or E). */
    void clientUnitDone(BackendLink link, char status, boolean failed);

    /** The session's unit done on {@code link} (routed to the primary or not) was sent {@code nanos} ago: statistics. */
    default void clientUnitTimed(BackendLink link, boolean primary, long nanos, boolean failed) {
    }

    /** An ErrorResponse of {@code link}'s backend goes to the client: for statistics. */
    default void clientError(BackendLink link, String sqlState) {
    }

    /**
     * The error the client gets instead of {@code link}'s backend's {@code sqlState} one, or null for that one: the
     * proxy's own words for a cancel it sent itself (a statement over its time limit).
     */
    default String errorInstead(BackendLink link, String sqlState) {
        return null;
    }

    /** A query of the proxy's own (a replayed SET, the reset of a kept connection) failed. */
    void internalUnitFailed(BackendLink link);

    /** The primary's WAL position after the session's write, for read-your-writes. */
    void lsnObserved(long lsn);
}

package io.metako.proxy.session;

import io.metako.proxy.protocol.FrontendMessages;
import java.util.ArrayDeque;

/**
 * What one backend connection has in flight, kept apart from Netty so it can be read and tested alone:
 * the units sent and not yet answered by ReadyForQuery, in order, each the session's (its answers are
 * relayed) or the proxy's own (a replayed SET, a reset, the read-your-writes LSN query: answers dropped);
 * which answers of a session unit the client must not see, because the proxy added the message they answer
 * (the ParseComplete and CloseComplete of a re-parse); and the proxy's queries that wait until the session's
 * unit being sent is complete, since nothing may be written into the middle of it.
 */
final class UnitTracker {
    /** Whose unit it is. */
    enum Owner {
        /** The session's: answers are relayed to the client. */
        CLIENT,
        /** The proxy's: answers are dropped. */
        SWALLOW,
        /** The proxy's LSN query: its one row is read, the rest dropped. */
        LSN
    }

    /** One of the proxy's queries, waiting to be sent. */
    record Internal(String sql, Owner owner) {
    }

    /** A unit answered by ReadyForQuery: whose, whether it failed, its route and when it was sent (nanoTime). */
    record Done(Owner owner, boolean failed, boolean primary, long sentNanos) {
    }

    private static final class Unit {
        final Owner owner;
        boolean primary;
        long sentNanos;
        int suppressParse;
        int suppressClose;
        boolean failed;
        boolean answered;

        Unit(Owner owner) {
            this.owner = owner;
        }
    }

    private final ArrayDeque<Unit> units = new ArrayDeque<>();
    private final ArrayDeque<Internal> deferred = new ArrayDeque<>();
    /** A session unit is being sent: its Sync (or Query, FunctionCall) has not gone yet. */
    private boolean unitOpen;
    private int clientUnits;
    /** Whether the session's units sent from now on went to the primary (the dispatcher sets it as it routes one). */
    private boolean primary = true;

    // ---- what is sent ---------------------------------------------------------------------------

    /** A message of the session's is sent; true when it completes its unit (Sync, Query, FunctionCall). */
    boolean clientMessage(byte type) {
        openClientUnit();
        if (type == FrontendMessages.SYNC || type == FrontendMessages.QUERY || type == FrontendMessages.FUNCTION_CALL) {
            unitOpen = false;
            return true;
        }
        return false;
    }

    /** The proxy adds a Parse to the session's unit: its ParseComplete is not the client's. */
    void parseAdded() {
        openClientUnit();
        units.peekLast().suppressParse++;
    }

    /** The proxy adds a Close of a statement to the session's unit: its CloseComplete is not the client's. */
    void closeAdded() {
        openClientUnit();
        units.peekLast().suppressClose++;
    }

    /** Whether the next session units sent here were routed to the primary (else to a replica). */
    void route(boolean primary) {
        this.primary = primary;
    }

    private void openClientUnit() {
        if (!unitOpen) {
            Unit u = new Unit(Owner.CLIENT);
            u.primary = primary;
            u.sentNanos = System.nanoTime();
            units.add(u);
            clientUnits++;
            unitOpen = true;
        }
    }

    /** Whether a query of the proxy's may be written now rather than deferred: no session unit is being sent. */
    boolean internalMayGo() {
        return !unitOpen;
    }

    /** A query of the proxy's has been written. */
    void internalSent(Owner owner) {
        units.add(new Unit(owner));
    }

    void defer(Internal query) {
        deferred.add(query);
    }

    /** The next deferred query of the proxy's, once it may go; null when none may. */
    Internal nextDeferred() {
        return unitOpen ? null : deferred.poll();
    }

    // ---- what comes back --------------------------------------------------------------------------

    /** The owner of the unit being answered; null between units. */
    Owner answering() {
        Unit head = units.peek();
        return head == null ? null : head.owner;
    }

    /** True the first time it is called for a session unit (its first answer has arrived). */
    boolean markAnswered() {
        Unit head = units.peek();
        if (head != null && head.owner == Owner.CLIENT && !head.answered) {
            head.answered = true;
            return true;
        }
        return false;
    }

    /** Whether the session unit being answered has not been answered yet at all. */
    boolean unanswered() {
        Unit head = units.peek();
        return head != null && head.owner == Owner.CLIENT && !head.answered;
    }

    /** Whether this answer (of a session unit) replies to a message the proxy added, so is not the client's. */
    boolean suppress(byte type) {
        Unit head = units.peek();
        if (type == '1' && head.suppressParse > 0) {
            head.suppressParse--;
            return true;
        }
        if (type == '3' && head.suppressClose > 0) {
            head.suppressClose--;
            return true;
        }
        return false;
    }

    /** An ErrorResponse: PostgreSQL skips the rest of the unit, so nothing more is suppressed. */
    void failed() {
        Unit head = units.peek();
        head.failed = true;
        head.suppressParse = 0;
        head.suppressClose = 0;
    }

    /** ReadyForQuery ended the unit being answered; null when none was sent. */
    Done complete() {
        Unit done = units.poll();
        if (done == null) {
            return null;
        }
        if (done.owner == Owner.CLIENT) {
            clientUnits--;
        }
        return new Done(done.owner, done.failed, done.primary, done.sentNanos);
    }

    // ---- state ------------------------------------------------------------------------------------

    /** Units of the session's still unanswered, or one still being sent. */
    boolean busy() {
        return clientUnits > 0 || unitOpen;
    }

    /** Nothing sent and unanswered, nothing being sent or waiting to be. */
    boolean empty() {
        return units.isEmpty() && !unitOpen && deferred.isEmpty();
    }

    /** No unit sent and unanswered (a kept connection whose reset is done). */
    boolean noneInFlight() {
        return units.isEmpty();
    }
}

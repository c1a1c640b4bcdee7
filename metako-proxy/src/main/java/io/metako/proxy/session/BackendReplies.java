package io.metako.proxy.session;

import io.metako.proxy.protocol.BackendMessageScanner;
import io.metako.proxy.protocol.BackendMessages;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a logged-in {@link BackendLink} treats each message its backend sends: relayed to the client,
 * dropped, or looked at (ReadyForQuery, errors, the LSN row, notifications to hold), as its
 * {@link UnitTracker} says whose unit is being answered; what happened goes to the link's owner.
 *
 * <p>Buffers: the scanner owns the bytes; relayed slices pass to the owner, payloads are valid during a call only.
 */
final class BackendReplies implements BackendMessageScanner.Sink {
    private static final Logger LOG = LoggerFactory.getLogger(BackendReplies.class);

    private final BackendLink link;
    private final UnitTracker units;
    /** The backend said FATAL before answering a unit that will run elsewhere: the rest is noise. */
    private boolean dying;
    /** An ErrorResponse of the proxy's own to relay in place of the backend's, once what came before has gone. */
    private ByteBuf replacement;
    /** The transaction status of the last ReadyForQuery. */
    private char lastStatus = 'I';

    BackendReplies(BackendLink link, UnitTracker units) {
        this.link = link;
        this.units = units;
    }

    boolean dying() {
        return dying;
    }

    char lastStatus() {
        return lastStatus;
    }

    void lastStatus(char status) {
        lastStatus = status;
    }

    @Override
    public BackendMessageScanner.Action classify(byte type, int length) {
        if (dying) {
            return BackendMessageScanner.Action.DROP;
        }
        UnitTracker.Owner answering = units.answering();
        if (answering == null) {
            // between units: a notification or notice to pass on, a FATAL error, or noise
            if (type == 'E') {
                return BackendMessageScanner.Action.INSPECT;
            }
            if (type == 'A' || type == 'N') {
                return switch (link.owner().asyncDelivery()) {
                    case RELAY -> BackendMessageScanner.Action.RELAY;
                    case HOLD -> BackendMessageScanner.Action.INSPECT;
                    case DROP -> BackendMessageScanner.Action.DROP;
                };
            }
            return BackendMessageScanner.Action.DROP;
        }
        if (type == 'Z' || type == 'E') {
            return BackendMessageScanner.Action.INSPECT;
        }
        if (answering == UnitTracker.Owner.CLIENT) {
            if (units.markAnswered()) {
                link.owner().unitAnswered(link);
            }
            return units.suppress(type) ? BackendMessageScanner.Action.DROP : BackendMessageScanner.Action.RELAY;
        }
        return answering == UnitTracker.Owner.LSN && type == 'D' ? BackendMessageScanner.Action.INSPECT
                : BackendMessageScanner.Action.DROP;
    }

    @Override
    public boolean inspect(byte type, ByteBuf payload) {
        UnitTracker.Owner answering = units.answering();
        if (answering == null && (type == 'A' || type == 'N')) {
            link.owner().holdAsync(type, payload);
            return false;
        }
        if (type == 'E') {
            return error(answering, payload);
        }
        if (type == 'D') { // the LSN query's row: one text column
            ByteBuf in = payload.duplicate();
            if (in.readShort() == 1) {
                int len = in.readInt();
                if (len > 0) {
                    link.owner().lsnObserved(BackendMessages.parseLsn(in.toString(in.readerIndex(), len, StandardCharsets.US_ASCII)));
                }
            }
            return false;
        }
        lastStatus = (char) payload.getByte(payload.readerIndex()); // 'Z'
        return answering == UnitTracker.Owner.CLIENT;
    }

    /** An ErrorResponse; true when it is the client's to see. */
    private boolean error(UnitTracker.Owner answering, ByteBuf payload) {
        if (answering == null) {
            LOG.info("backend {} sent an error outside any statement: {}", link.backend.name(), BackendMessages.describeError(payload));
            link.owner().errorOutsideUnit(link);
            return false;
        }
        if (units.unanswered()) {
            String severity = BackendMessages.fields(payload).getOrDefault('V', "");
            if ((severity.equals("FATAL") || severity.equals("PANIC")) && link.owner().retryInstead(link)) {
                LOG.info("backend {} is ending the connection ({}); the statement will run elsewhere", link.backend.name(),
                        BackendMessages.describeError(payload));
                dying = true;
                return false;
            }
            units.markAnswered();
            link.owner().unitAnswered(link);
        }
        units.failed();
        if (answering != UnitTracker.Owner.CLIENT) {
            LOG.warn("statement replayed by the proxy on backend {} failed: {}", link.backend.name(),
                    BackendMessages.describeError(payload));
            return false;
        }
        String code = BackendMessages.fields(payload).getOrDefault('C', "");
        link.owner().clientError(link, code);
        String instead = link.owner().errorInstead(link, code);
        if (instead != null) {
            // relayed in afterInspect: the messages before this one leave first
            replacement = BackendMessages.errorResponse(link.alloc(), "ERROR", code, instead);
            return false;
        }
        return true;
    }

    @Override
    public void afterInspect(byte type) {
        if (replacement != null) {
            ByteBuf r = replacement;
            replacement = null;
            link.owner().relay(r);
        }
        if (type != 'Z') {
            return;
        }
        UnitTracker.Done done = units.complete();
        if (done == null) {
            return;
        }
        link.sendDeferred();
        if (done.owner() == UnitTracker.Owner.CLIENT) {
            link.owner().clientUnitTimed(link, done.primary(), System.nanoTime() - done.sentNanos(), done.failed());
            link.owner().clientUnitDone(link, lastStatus, done.failed());
        } else if (done.failed()) {
            link.owner().internalUnitFailed(link);
        }
    }

    @Override
    public void relay(ByteBuf bytes) {
        link.owner().relay(bytes);
    }
}

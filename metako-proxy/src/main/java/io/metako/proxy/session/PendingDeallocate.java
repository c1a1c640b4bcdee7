package io.metako.proxy.session;

import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.route.Classification;
import io.metako.proxy.route.StatementClassifier;
import io.metako.proxy.route.StatementKind;
import io.metako.proxy.routing.RoutingTable;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A lone {@code DEALLOCATE name | ALL} sent as a Query (pgx drops its statements this way) and what it means for
 * the statements the session prepared with Parse, which may live on several of its backends. Outside a
 * transaction it runs where the statement is (PostgreSQL answers "does not exist" elsewhere); once it
 * succeeded, the statement (or every one) is forgotten, so a later Parse of the same name starts afresh
 * everywhere (a backend that still holds the old one gets a Close first, as after a Close message). A DEALLOCATE that fails, that is answered by the
 * proxy, or that is followed by another unit before its answer (which answer failed is then unknown) changes
 * nothing here.
 */
final class PendingDeallocate {
    private static final Pattern DEALLOCATE = Pattern.compile("(?i)\\bdeallocate\\b");

    private StatementClassifier.Deallocation pending;
    private boolean sent;

    /** A Query of the unit being routed was classified. */
    void classified(String sql, Classification c) {
        if (c.kind() == StatementKind.WRITE && DEALLOCATE.matcher(sql).find()) {
            pending = StatementClassifier.deallocation(sql).orElse(null);
        }
    }

    void reset() {
        pending = null;
        sent = false;
    }

    /** A message of the session's goes to a backend. */
    void sending(byte type) {
        if (sent) {
            reset(); // another unit follows the DEALLOCATE before its answer
        } else if (pending != null && type == FrontendMessages.QUERY) {
            sent = true;
        }
    }

    /**
     * Where a DEALLOCATE of a statement the session prepared runs outside a transaction: a backend of the session
     * that holds its current version (and that {@code table} lets serve); null for any other unit, or when none
     * holds it (it goes where writes go, as SQL-level PREPAREs live on the primary).
     */
    BackendLink runOn(Iterable<BackendLink> links, RoutingTable table, SessionStatements statements) {
        int version = pending == null || pending.all() ? 0 : statements.version(pending.name());
        if (version == 0) {
            return null;
        }
        for (BackendLink l : links) {
            if (l.phase() == BackendLink.Phase.READY && l.prepared.version(pending.name()) == version
                    && table.serves(l.backend)) {
                return l;
            }
        }
        return null;
    }

    /**
     * The session's unit on {@code ran} ended ({@code failed}: with an error). A DEALLOCATE that succeeded is
     * forgotten by the session and by {@code ran}; the session's other backends that hold the name keep it in
     * their record, so a later Parse of that name there closes it first, as after a Close message.
     */
    void unitDone(BackendLink ran, boolean failed, SessionStatements statements) {
        StatementClassifier.Deallocation d = sent && !failed ? pending : null;
        reset();
        if (d == null) {
            return;
        }
        if (d.all()) {
            statements.forgetAll(List.of(ran));
        } else {
            statements.forget(d.name());
            ran.prepared.remove(d.name());
        }
    }
}

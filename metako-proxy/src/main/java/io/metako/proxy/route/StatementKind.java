package io.metako.proxy.route;

/** What a statement means for routing. */
public enum StatementKind {
    /** Reads only: may go to a replica outside a transaction. */
    READ,
    /** Writes, locks, DDL, or anything not known to be a read: the primary. */
    WRITE,
    /** BEGIN / START TRANSACTION: the transaction stays where it starts (the primary). */
    BEGIN,
    /** BEGIN READ ONLY: a transaction that may run on a replica. */
    BEGIN_READ_ONLY,
    /** COMMIT / END / ROLLBACK / ABORT (and PREPARE TRANSACTION's relatives). */
    END_TRANSACTION,
    /** SET / RESET / DISCARD: session state, to be applied on every backend the session uses. */
    SESSION;

    private final String label = name().toLowerCase(java.util.Locale.ROOT);

    /** The name in lower case: a metric label. */
    public String label() {
        return label;
    }
}

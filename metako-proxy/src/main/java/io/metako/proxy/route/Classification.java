package io.metako.proxy.route;

/**
 * The classifier's verdict on a query string.
 *
 * @param kind          what the statement(s) mean for routing
 * @param forcePrimary  a {@code metako:primary} comment asks for the primary whatever the kind
 * @param statements    how many statements the string holds (a multi-statement string runs as one unit)
 */
public record Classification(StatementKind kind, boolean forcePrimary, int statements) {
    /** May run on a replica when outside a transaction: a read, or a read-only transaction, without a primary hint. */
    public boolean replicaEligible() {
        return (kind == StatementKind.READ || kind == StatementKind.BEGIN_READ_ONLY) && !forcePrimary;
    }
}

package io.metako.server.control;

/**
 * An operator's request the cluster's state does not allow, or that names something wrong: what OperatorActions
 * throws. The admin API turns it into its own error (INVALID_ARGUMENT or FAILED_PRECONDITION); control knows no API.
 */
public final class Refusal extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Whether the request itself is wrong (a missing or unknown name), or the state does not allow it now. */
    public enum Kind { BAD_REQUEST, NOT_NOW }

    private final Kind kind;

    public Refusal(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}

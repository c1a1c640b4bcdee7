package io.metako.server.api;

/** A refused admin call; {@link AdminService} maps its kind to a gRPC status. */
public final class AdminException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why: bad input, a state that does not allow it now, or no way to reach the leader. */
    public enum Kind { INVALID_ARGUMENT, FAILED_PRECONDITION, UNAVAILABLE }

    private final Kind kind;

    public AdminException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}

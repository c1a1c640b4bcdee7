package io.metako.client;

/** A call that no endpoint could answer, or that an endpoint refused. */
public final class MetakoClientException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why the call failed, for exit codes and retries. */
    public enum Reason { NO_ENDPOINT_ANSWERED, UNAUTHENTICATED, REFUSED }

    private final Reason reason;

    public MetakoClientException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}

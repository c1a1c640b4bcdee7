package io.metako.proxy.protocol;

/**
 * A client broke the protocol: the session ends with an ErrorResponse carrying {@link #sqlState()}
 * (08P01 protocol_violation unless said otherwise), never the process.
 */
public final class ProtocolException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String sqlState;

    public ProtocolException(String sqlState, String message) {
        super(message);
        this.sqlState = sqlState;
    }

    public ProtocolException(String message) {
        this(SqlState.PROTOCOL_VIOLATION, message);
    }

    public String sqlState() {
        return sqlState;
    }
}

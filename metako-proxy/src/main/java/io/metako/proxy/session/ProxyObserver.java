package io.metako.proxy.session;

/**
 * What the statement router reports about the statements it carries, for statistics and metrics (the server
 * implements it; the proxy module knows no metrics library). Called on the event loops, once per unit or error:
 * implementations must be cheap and must not block.
 */
public interface ProxyObserver {
    /** Nobody listening. */
    ProxyObserver NONE = new ProxyObserver() { };

    /**
     * A unit of a client's (one Query, or Parse..Sync) was routed to {@code node}: {@code primary} tells whether the
     * node was the primary in the routing table (else a replica), {@code kind} is the classifier's.
     */
    default void routed(String node, boolean primary, io.metako.proxy.route.StatementKind kind) {
    }

    /** A client's unit on {@code node} was answered by its ReadyForQuery {@code nanos} after it was sent. */
    default void answered(String node, boolean primary, long nanos, boolean failed) {
    }

    /**
     * An ErrorResponse went to a client: {@code node}'s, or the proxy's own ({@code node} empty: a wait given up, a
     * lost backend, a session ended).
     */
    default void error(String node, String sqlState) {
    }

    /** Protocol bytes from a client ({@code in}) or to one ({@code out}), after TLS. */
    default void clientBytes(long in, long out) {
    }

    /** A unit waited {@code nanos} for a primary or the lease; {@code routed}: it then ran, else it gave up. */
    default void waited(long nanos, boolean routed) {
    }
}

package io.metako.server.chaos;

/**
 * One client operation as the workload saw it: an insert of a unique id through one instance's
 * statement router.
 *
 * @param id         the row's id, unique over the round
 * @param instance   the instance whose router the client used
 * @param startMillis wall-clock time the statement was sent (commit timestamps are compared with it)
 * @param endMillis  wall-clock time the answer (or the error) came
 * @param outcome    what the client can know about it
 * @param node       the node that acknowledged it ({@code inet_server_port()} mapped to a name), when OK
 * @param error      the SQLSTATE and message, when not OK
 */
record Op(long id, int instance, long startMillis, long endMillis, Outcome outcome, String node, String error) {

    enum Outcome {
        /** The server answered: committed. */
        OK,
        /** An answer that proves nothing was committed (the statement was refused or failed). */
        FAILED,
        /** No answer, a broken connection, or an error that may come after the commit. */
        UNKNOWN
    }

    /**
     * Whether an error proves the insert did not commit. Connection errors (08), an ended session
     * (57P01/57P02), timeouts and unknown states may come after a commit, so they prove nothing.
     */
    static Outcome outcomeOf(java.sql.SQLException e) {
        String state = e.getSQLState();
        if (state == null || state.startsWith("08") || state.startsWith("57P01") || state.startsWith("57P02")
                || state.startsWith("XX") || state.equals("57014")) {
            return Outcome.UNKNOWN;
        }
        return Outcome.FAILED;
    }
}

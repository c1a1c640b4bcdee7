package io.metako.server.logging;

/** How a failure is put in one line: for log lines, status sentences and the replicated state. */
public final class Failures {
    private Failures() {
    }

    /** The first line of {@code t}'s message (its class name when it has none). */
    public static String firstLine(Throwable t) {
        return firstLines(t, 1, Integer.MAX_VALUE);
    }

    /** The first {@code lines} non-blank lines of {@code t}'s message joined by " / ", cut at {@code maxChars}. */
    public static String firstLines(Throwable t, int lines, int maxChars) {
        String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        String joined = m.lines().filter(l -> !l.isBlank()).limit(lines).reduce((a, b) -> a + " / " + b).orElse(m);
        return joined.length() <= maxChars ? joined : joined.substring(0, Math.max(0, maxChars - 3)) + "...";
    }
}

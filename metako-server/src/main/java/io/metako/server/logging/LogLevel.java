package io.metako.server.logging;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Sets the lowest level the process logs ({@code logging.level}), at start and on a reload. */
public final class LogLevel {
    private LogLevel() {
    }

    /** The root level the logging configuration gave, before the first {@link #set}. */
    private static ch.qos.logback.classic.Level configured;

    /**
     * {@code level}: error, warn, info, debug or trace; empty: the level the logging configuration gave (logback.xml,
     * or -Dlogback.configurationFile). Without Logback behind SLF4J this does nothing.
     */
    public static synchronized void set(String level) {
        if (LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME) instanceof ch.qos.logback.classic.Logger root) {
            if (configured == null) {
                configured = root.getLevel();
            }
            ch.qos.logback.classic.Level next = level.isEmpty() ? configured
                    : ch.qos.logback.classic.Level.toLevel(level, configured);
            if (!next.equals(root.getLevel())) {
                root.setLevel(next);
                LoggerFactory.getLogger(LogLevel.class).info("log level {}", next);
            }
        }
    }
}

package io.metako.server.config;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses durations ({@code "250ms"}, {@code "5s"}, {@code "1m"}) and sizes ({@code "16MB"}). */
public final class Units {
    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h)");
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(b|kb|mb|gb|tb)?", Pattern.CASE_INSENSITIVE);

    private Units() {
    }

    /** Returns null when the text is not a duration. */
    public static Duration parseDuration(String text) {
        Matcher m = DURATION.matcher(text.trim());
        if (!m.matches()) {
            return null;
        }
        double amount = Double.parseDouble(m.group(1));
        double millis = switch (m.group(2)) {
            case "ms" -> amount;
            case "s" -> amount * 1_000;
            case "m" -> amount * 60_000;
            default -> amount * 3_600_000;
        };
        return Duration.ofMillis(Math.round(millis));
    }

    /** Returns null when the text is not a size (or one beyond a long); units are powers of 1024. */
    public static Long parseSize(String text) {
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches()) {
            return null;
        }
        long amount;
        try {
            amount = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            return null; // more digits than a long holds
        }
        String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
        int shift = switch (unit) {
            case "kb" -> 10;
            case "mb" -> 20;
            case "gb" -> 30;
            case "tb" -> 40;
            default -> 0;
        };
        return amount > (Long.MAX_VALUE >> shift) ? null : amount << shift;
    }

    public static String formatDuration(Duration d) {
        long ms = d.toMillis();
        if (ms % 60_000 == 0 && ms > 0) {
            return ms / 60_000 + "m";
        }
        return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
    }

    public static String formatSize(long bytes) {
        if (bytes > 0 && bytes % (1L << 30) == 0) {
            return (bytes >> 30) + "GB";
        }
        if (bytes > 0 && bytes % (1L << 20) == 0) {
            return (bytes >> 20) + "MB";
        }
        if (bytes > 0 && bytes % (1L << 10) == 0) {
            return (bytes >> 10) + "kB";
        }
        return bytes + "B";
    }
}

package io.metako.server.config;

import java.util.Arrays;

/**
 * A password or token. Its {@link #toString()} never shows the value, so a secret that ends up
 * in a log line, an exception or a status message reads as {@code ******}.
 */
public final class Secret {
    private static final Secret NONE = new Secret("");
    private final String value;

    private Secret(String value) {
        this.value = value;
    }

    public static Secret of(String value) {
        return value == null || value.isEmpty() ? NONE : new Secret(value);
    }

    public static Secret none() {
        return NONE;
    }

    public boolean isPresent() {
        return !value.isEmpty();
    }

    /** The secret itself: call only where it is handed to a driver or compared. */
    public String reveal() {
        return value;
    }

    /** Compares in time independent of where the first difference is. */
    public boolean matches(String candidate) {
        if (candidate == null) {
            return false;
        }
        byte[] a = value.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] b = candidate.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return java.security.MessageDigest.isEqual(a, b) && !Arrays.equals(a, new byte[0]);
    }

    @Override
    public String toString() {
        return isPresent() ? "******" : "";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Secret s && s.value.equals(value);
    }

    @Override
    public int hashCode() {
        return value.hashCode();
    }
}

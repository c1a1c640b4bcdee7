package io.metako.proxy.auth;

import java.security.SecureRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a server keeps to check a SCRAM-SHA-256 password without knowing it: salt, iteration
 * count, StoredKey and ServerKey. Written as PostgreSQL stores it in {@code pg_authid}:
 * {@code SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>}.
 */
public record ScramVerifier(byte[] salt, int iterations, byte[] storedKey, byte[] serverKey) {
    private static final Pattern FORMAT = Pattern.compile("SCRAM-SHA-256\\$(\\d+):([^$]+)\\$([^:]+):(.+)");
    public static final int DEFAULT_ITERATIONS = 4096;

    /** A verifier for {@code password} with a fresh random salt. */
    public static ScramVerifier fromPassword(String password, SecureRandom random) {
        byte[] salt = new byte[16];
        random.nextBytes(salt);
        return fromPassword(password, salt, DEFAULT_ITERATIONS);
    }

    public static ScramVerifier fromPassword(String password, byte[] salt, int iterations) {
        byte[] salted = ScramSha256.saltedPassword(password, salt, iterations);
        byte[] clientKey = ScramSha256.hmac(salted, "Client Key");
        return new ScramVerifier(salt, iterations, ScramSha256.sha256(clientKey), ScramSha256.hmac(salted, "Server Key"));
    }

    /**
     * A verifier no password matches, for a user that does not exist: the salt is derived from the
     * name and a per-process secret (the same name always shows the same salt, as a real user's would)
     * and the keys are random, so no PBKDF2 runs for it.
     */
    public static ScramVerifier mock(String user, byte[] secret, SecureRandom random) {
        byte[] digest = ScramSha256.sha256((ScramSha256.b64(secret) + "\0" + user).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        byte[] storedKey = new byte[32];
        byte[] serverKey = new byte[32];
        random.nextBytes(storedKey);
        random.nextBytes(serverKey);
        return new ScramVerifier(java.util.Arrays.copyOf(digest, 16), DEFAULT_ITERATIONS, storedKey, serverKey);
    }

    /** Parses PostgreSQL's text form; null when {@code text} is not one. */
    public static ScramVerifier parse(String text) {
        Matcher m = FORMAT.matcher(text);
        if (!m.matches()) {
            return null;
        }
        try {
            return new ScramVerifier(ScramSha256.unb64(m.group(2)), Integer.parseInt(m.group(1)),
                    ScramSha256.unb64(m.group(3)), ScramSha256.unb64(m.group(4)));
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    public String format() {
        return "SCRAM-SHA-256$" + iterations + ":" + ScramSha256.b64(salt) + "$" + ScramSha256.b64(storedKey) + ":"
                + ScramSha256.b64(serverKey);
    }

    @Override
    public String toString() {
        return "ScramVerifier[iterations=" + iterations + ", keys hidden]";
    }
}

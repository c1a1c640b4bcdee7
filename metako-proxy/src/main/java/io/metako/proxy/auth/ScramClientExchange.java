package io.metako.proxy.auth;

import java.security.MessageDigest;
import java.util.Map;

/**
 * The client side of one SCRAM-SHA-256 exchange (the proxy logging in to a backend with the
 * configured credentials).
 */
public final class ScramClientExchange {
    private final String user;
    private final String password;
    private final String clientNonce;
    private String clientFirstBare;
    private byte[] serverKey;
    private String authMessage;

    /** {@code user} may be empty: PostgreSQL takes the user from the StartupMessage. */
    public ScramClientExchange(String user, String password, String clientNonce) {
        this.user = user;
        this.password = password;
        this.clientNonce = clientNonce;
    }

    public String clientFirst() {
        clientFirstBare = "n=" + user.replace("=", "=3D").replace(",", "=2C") + ",r=" + clientNonce;
        return "n,," + clientFirstBare;
    }

    public String clientFinal(String serverFirst) throws ScramServerExchange.ScramException {
        Map<Character, String> a = serverFirstAttributes(serverFirst);
        String nonce = a.get('r');
        byte[] salted = saltedPassword(password, a.get('s'), Integer.parseInt(a.get('i')));
        byte[] clientKey = ScramSha256.hmac(salted, "Client Key");
        serverKey = ScramSha256.hmac(salted, "Server Key");
        String withoutProof = "c=biws,r=" + nonce;
        authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof;
        byte[] signature = ScramSha256.hmac(ScramSha256.sha256(clientKey), authMessage);
        return withoutProof + ",p=" + ScramSha256.b64(ScramSha256.xor(clientKey, signature));
    }

    private Map<Character, String> serverFirstAttributes(String serverFirst) throws ScramServerExchange.ScramException {
        Map<Character, String> a = ScramServerExchange.attributes(serverFirst);
        String nonce = a.get('r');
        if (nonce == null || !nonce.startsWith(clientNonce) || a.get('s') == null || a.get('i') == null
                || !a.get('i').matches("[1-9][0-9]{0,6}")) {
            throw new ScramServerExchange.ScramException("malformed SCRAM server-first message from the backend", false);
        }
        return a;
    }

    /**
     * Whether {@link #clientFinal} would first derive the salted password (PBKDF2, 4,096 HMACs or
     * more): the first login per backend salt. The caller runs {@link #derive} off the event loop then.
     */
    public boolean derivationPending(String serverFirst) throws ScramServerExchange.ScramException {
        Map<Character, String> a = serverFirstAttributes(serverFirst);
        return !SALTED.containsKey(cacheKey(password, a.get('s'), Integer.parseInt(a.get('i'))));
    }

    /** Derives and caches the salted password {@link #clientFinal} needs; for a thread that is not an event loop. */
    public void derive(String serverFirst) throws ScramServerExchange.ScramException {
        Map<Character, String> a = serverFirstAttributes(serverFirst);
        saltedPassword(password, a.get('s'), Integer.parseInt(a.get('i')));
    }

    /**
     * A backend keeps its salt and iteration count, so the proxy derives the salted password once per
     * (password, salt, iterations) instead of running 4,096 HMACs on an event loop at every login.
     */
    private static final java.util.Map<String, byte[]> SALTED = java.util.Collections.synchronizedMap(
            new java.util.LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(java.util.Map.Entry<String, byte[]> eldest) {
                    return size() > 64;
                }
            });

    private static String cacheKey(String password, String salt, int iterations) {
        return iterations + ":" + salt + ":" + ScramSha256.b64(ScramSha256.sha256(
                password.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }

    private static byte[] saltedPassword(String password, String salt, int iterations) {
        String key = cacheKey(password, salt, iterations);
        byte[] cached = SALTED.get(key);
        if (cached == null) {
            cached = ScramSha256.saltedPassword(password, ScramSha256.unb64(salt), iterations);
            SALTED.put(key, cached);
        }
        return cached;
    }

    /** True when the backend proved it knows the password too. */
    public boolean serverVerified(String serverFinal) {
        String v = ScramServerExchange.attributes(serverFinal).get('v');
        return v != null && MessageDigest.isEqual(ScramSha256.unb64(v), ScramSha256.hmac(serverKey, authMessage));
    }
}

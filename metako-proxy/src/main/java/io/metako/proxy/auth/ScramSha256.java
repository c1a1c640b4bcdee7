package io.metako.proxy.auth;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** The SCRAM-SHA-256 primitives of RFC 5802 / RFC 7677, shared by the server and client sides. */
final class ScramSha256 {
    private ScramSha256() {
    }

    /**
     * Hi(Normalize(password)): PBKDF2 with HMAC-SHA-256 and one block, as SCRAM defines it (one Mac,
     * keyed once), of the password after {@link SaslPrep}.
     */
    static byte[] saltedPassword(String password, byte[] salt, int iterations) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key(SaslPrep.prepare(password).getBytes(StandardCharsets.UTF_8)));
            byte[] block = new byte[salt.length + 4];
            System.arraycopy(salt, 0, block, 0, salt.length);
            block[block.length - 1] = 1;
            byte[] u = mac.doFinal(block);
            byte[] result = u.clone();
            for (int i = 1; i < iterations; i++) {
                u = mac.doFinal(u); // doFinal resets the Mac and keeps its key
                for (int j = 0; j < result.length; j++) {
                    result[j] ^= u[j];
                }
            }
            return result;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    static byte[] hmac(byte[] key, byte[] data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key(key));
            return mac.doFinal(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    /**
     * HMAC pads a key with zero bytes, so an empty key is the same key as one zero byte; the JDK
     * refuses an empty key, hence the stand-in (an empty password must not crash a login).
     */
    private static SecretKeySpec key(byte[] key) {
        return new SecretKeySpec(key.length == 0 ? new byte[1] : key, "HmacSHA256");
    }

    static byte[] hmac(byte[] key, String data) {
        return hmac(key, data.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    static byte[] xor(byte[] a, byte[] b) {
        byte[] out = new byte[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = (byte) (a[i] ^ b[i]);
        }
        return out;
    }

    static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }

    static byte[] unb64(String s) {
        return Base64.getDecoder().decode(s);
    }
}

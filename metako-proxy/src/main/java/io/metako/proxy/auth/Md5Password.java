package io.metako.proxy.auth;

import io.netty.buffer.ByteBufUtil;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** PostgreSQL's md5 password answer, for both sides: the proxy checking a client and logging in to a backend. */
public final class Md5Password {
    private Md5Password() {
    }

    /** "md5" + md5hex(md5hex(password + user) + salt). */
    public static String answer(String user, String password, byte[] salt) {
        try {
            MessageDigest md = MessageDigest.getInstance("MD5");
            String inner = ByteBufUtil.hexDump(md.digest((password + user).getBytes(StandardCharsets.UTF_8)));
            md.reset();
            md.update(inner.getBytes(StandardCharsets.US_ASCII));
            md.update(salt);
            return "md5" + ByteBufUtil.hexDump(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is part of every JDK", e);
        }
    }
}

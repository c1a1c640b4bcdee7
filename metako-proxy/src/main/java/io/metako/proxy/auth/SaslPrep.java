package io.metako.proxy.auth;

import java.text.Normalizer;

/**
 * SASLprep (RFC 4013) of a SCRAM password, as PostgreSQL and libpq apply it (pg_saslprep): a password
 * of ASCII characters only is used as it is; any other is mapped (non-ASCII spaces to a space, the
 * characters "commonly mapped to nothing" removed), NFKC-normalised and checked; one that turns out to
 * hold a prohibited character, or breaks the bidirectional rule, is used as it is, unnormalised, as
 * PostgreSQL does. So a verifier the proxy computes from a configured password matches the one
 * PostgreSQL stores for it, and the proxy logs in to a backend with the key libpq would derive.
 */
final class SaslPrep {
    private SaslPrep() {
    }

    static String prepare(String password) {
        if (password.chars().allMatch(c -> c < 0x80)) {
            return password;
        }
        StringBuilder mapped = new StringBuilder(password.length());
        password.codePoints().forEach(c -> {
            if (nonAsciiSpace(c)) {
                mapped.append(' ');
            } else if (!mappedToNothing(c)) {
                mapped.appendCodePoint(c);
            }
        });
        String normalized = Normalizer.normalize(mapped, Normalizer.Form.NFKC);
        if (normalized.codePoints().anyMatch(SaslPrep::prohibited) || !bidiOk(normalized)) {
            return password;
        }
        return normalized;
    }

    /** RFC 3454 table C.1.2. */
    private static boolean nonAsciiSpace(int c) {
        return c == 0x00A0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    /** RFC 3454 table B.1. */
    private static boolean mappedToNothing(int c) {
        return c == 0x00AD || c == 0x034F || c == 0x1806 || (c >= 0x180B && c <= 0x180D) || (c >= 0x200B && c <= 0x200D)
                || c == 0x2060 || (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF;
    }

    /** RFC 4013 section 2.3: tables C.1.2 and C.2.1 to C.9, and unassigned code points. */
    private static boolean prohibited(int c) {
        return nonAsciiSpace(c)
                || c < 0x20 || c == 0x7F // C.2.1
                || (c >= 0x80 && c <= 0x9F) || c == 0x06DD || c == 0x070F || c == 0x180E || c == 0x200C || c == 0x200D
                || c == 0x2028 || c == 0x2029 || (c >= 0x2060 && c <= 0x2063) || (c >= 0x206A && c <= 0x206F)
                || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC) || (c >= 0x1D173 && c <= 0x1D17A) // C.2.2
                || (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD) || (c >= 0x100000 && c <= 0x10FFFD) // C.3
                || (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE // C.4
                || (c >= 0xD800 && c <= 0xDFFF) // C.5
                || (c >= 0xFFF9 && c <= 0xFFFD) // C.6
                || (c >= 0x2FF0 && c <= 0x2FFB) // C.7
                || c == 0x0340 || c == 0x0341 || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) // C.8
                || c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F) // C.9
                || !Character.isDefined(c); // A.1 (by this JDK's Unicode version)
    }

    /** RFC 3454 section 6: a string with right-to-left characters has no left-to-right ones and starts and ends with one. */
    private static boolean bidiOk(String s) {
        boolean hasRtl = s.codePoints().anyMatch(SaslPrep::rtl);
        if (!hasRtl) {
            return true;
        }
        if (s.codePoints().anyMatch(c -> Character.getDirectionality(c) == Character.DIRECTIONALITY_LEFT_TO_RIGHT)) {
            return false;
        }
        return rtl(s.codePointAt(0)) && rtl(s.codePointBefore(s.length()));
    }

    private static boolean rtl(int c) {
        byte d = Character.getDirectionality(c);
        return d == Character.DIRECTIONALITY_RIGHT_TO_LEFT || d == Character.DIRECTIONALITY_RIGHT_TO_LEFT_ARABIC;
    }
}

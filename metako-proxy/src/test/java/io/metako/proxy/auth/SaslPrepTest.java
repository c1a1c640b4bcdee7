package io.metako.proxy.auth;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Non-ASCII SCRAM passwords: the verifier the proxy computes must be the one PostgreSQL stores. The
 * expected verifiers were made by PostgreSQL 15 ({@code CREATE ROLE ... PASSWORD '...'} with
 * {@code password_encryption = scram-sha-256}, then {@code pg_authid.rolpassword}); the proxy derives
 * its own with the same salt and iteration count.
 */
class SaslPrepTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "soft hyphen, mapped to nothing | I\\u00adX | SCRAM-SHA-256$4096:i+UOdzV4Xgg61wY0u6ws9g==$dg6uB/OtqEm12pZxOqLWe+/sBH5G+Px4QxcBBnpHcOU=:GFa/B/YZ7KiLcCrAjRsAlzi43yvkfplUKxhGFcjAICw=",
        "roman numeral nine, NFKC to IX | \\u2168 | SCRAM-SHA-256$4096:Qp50HcAeZvX/VicBCOZHCQ==$Nysoc89/w6jNJgFTHvY38ekq8vXRkRdexTVlwXTHsig=:Qr42LCoDRAhe9NoVVybMHs1oUKq1aBe61iqs5MR7e5k=",
        "no-break space, mapped to a space | pass\\u00a0word | SCRAM-SHA-256$4096:adfyXcvz1LMbjWuTjEQlRg==$a9o826IcVnqJIJev2EBuW+W+mohsb+VwKpoh+Kskb+g=:h9uimeS/IvzYixtbAfjzLU0jJkGpPUkf4KDExdD0q4I=",
        "umlauts, unchanged | p\\u00e4ssw\\u00f6rd | SCRAM-SHA-256$4096:BgjZuTLhCVNj3gpBjoujUA==$4Fp8t5OM+CNL7J4ErLegEE/PHkuj+9mPTQQ8rwNw8qo=:Oy89eI7mXSP3BDlhX642nHgTHPpgETyFcOJfPZ2VQY4=",
        "fullwidth letters, NFKC to ASCII | \\uff30\\uff41\\uff53\\uff53 | SCRAM-SHA-256$4096:lrWzzRMrEpckAQvFlGLYLg==$1f2KSUdCBMzKTPhfdTfI7WRfZA37fL4KFCEAYwgTLP0=:4hanqnR/twYOgJnLO53PYD0Oyj2o18ZNLvlfIEEfAlI=",
        "a control character, prohibited: used as it is | a\\u0007b\\u00e9 | SCRAM-SHA-256$4096:S+tTceeFGxPynrO2X1f8Dg==$/sMCjqcM771vf5mfpXycCEPViuf7vF197aGGMcNxyGw=:owtwklVhby520Pu68FWR5drezV/3HwvbY6ez8LNkl/4=",
        "right-to-left then a digit, breaks the bidi rule: used as it is | \\u0627\\u0031 | SCRAM-SHA-256$4096:PyCBkv96G0z8T6I1o6KRwQ==$eFFqKq8xUnfMd9ZEFXH+0WRpIeyl+pGXwjIp/tSq784=:Ds4J3KlX7FR0A9mIQh2JKberXfWI3+AiR41FlLBA1Ew=",
    })
    void theProxysVerifierIsTheOnePostgresqlStores(String what, String escapedPassword, String postgres) {
        String password = unescape(escapedPassword);
        ScramVerifier theirs = ScramVerifier.parse(postgres);
        assertThat(ScramVerifier.fromPassword(password, theirs.salt(), theirs.iterations()).format()).isEqualTo(postgres);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "plain ascii | plain ascii",
        "I\\u00adX | IX",
        "\\u2168 | IX",
        "\\u00aa | a",
        "a\\u3000b | a b",
        "tab\\tkept, all ascii | tab\\tkept, all ascii",
        "a\\u0007b\\u00e9 | a\\u0007b\\u00e9",
    })
    void prepare(String in, String out) {
        assertThat(SaslPrep.prepare(unescape(in))).isEqualTo(unescape(out));
    }

    private static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && s.charAt(i + 1) == 'u') {
                b.append((char) Integer.parseInt(s.substring(i + 2, i + 6), 16));
                i += 5;
            } else if (c == '\\' && s.charAt(i + 1) == 't') {
                b.append('\t');
                i++;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}

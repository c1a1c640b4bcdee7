package io.metako.proxy.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.SecureRandom;
import java.util.Base64;
import org.junit.jupiter.api.Test;

/** SCRAM-SHA-256 against the exchange printed in RFC 7677, section 3, from both sides. */
class ScramTest {
    static final String CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    static final String SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    static final String SERVER_FIRST = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    static final String CLIENT_FINAL = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    static final String SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    static final ScramVerifier PENCIL = ScramVerifier.fromPassword("pencil",
            Base64.getDecoder().decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);

    @Test
    void serverSideReproducesTheRfcExchange() throws Exception {
        ScramServerExchange server = new ScramServerExchange(PENCIL, SERVER_NONCE);
        assertThat(server.serverFirst(CLIENT_FIRST)).isEqualTo(SERVER_FIRST);
        assertThat(server.serverFinal(CLIENT_FINAL)).isEqualTo(SERVER_FINAL);
    }

    @Test
    void clientSideReproducesTheRfcExchange() throws Exception {
        ScramClientExchange client = new ScramClientExchange("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assertThat(client.clientFirst()).isEqualTo(CLIENT_FIRST);
        assertThat(client.clientFinal(SERVER_FIRST)).isEqualTo(CLIENT_FINAL);
        assertThat(client.serverVerified(SERVER_FINAL)).isTrue();
        assertThat(client.serverVerified("v=" + Base64.getEncoder().encodeToString(new byte[32]))).isFalse();
    }

    @Test
    void aWrongPasswordIsRefusedAsSuch() throws Exception {
        ScramServerExchange server = new ScramServerExchange(PENCIL, SERVER_NONCE);
        ScramClientExchange client = new ScramClientExchange("user", "crayon", "rOprNGfwEbeRWgbNEkqO");
        String serverFirst = server.serverFirst(client.clientFirst());
        String clientFinal = client.clientFinal(serverFirst);
        assertThatThrownBy(() -> server.serverFinal(clientFinal))
                .isInstanceOfSatisfying(ScramServerExchange.ScramException.class, e -> assertThat(e.wrongPassword()).isTrue());
    }

    @Test
    void protocolAbuseIsRefusedWithoutClaimingAWrongPassword() throws Exception {
        assertThatThrownBy(() -> new ScramServerExchange(PENCIL, "x").serverFirst("p=tls-server-end-point,,n=,r=abc"))
                .hasMessageContaining("channel binding is not supported");
        assertThatThrownBy(() -> new ScramServerExchange(PENCIL, "x").serverFinal(CLIENT_FINAL))
                .hasMessageContaining("before client-first");
        ScramServerExchange s = new ScramServerExchange(PENCIL, SERVER_NONCE);
        s.serverFirst(CLIENT_FIRST);
        assertThatThrownBy(() -> s.serverFinal("c=biws,r=someoneelse,p=AAAA"))
                .isInstanceOfSatisfying(ScramServerExchange.ScramException.class, e -> assertThat(e.wrongPassword()).isFalse())
                .hasMessageContaining("nonce mismatch");
        assertThatThrownBy(() -> s.serverFinal("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=!!"))
                .hasMessageContaining("malformed SCRAM proof");
        assertThatThrownBy(() -> new ScramServerExchange(PENCIL, "x").serverFirst("n,,n=user"))
                .hasMessageContaining("without a nonce");
    }

    @Test
    void clientFinalMustEchoTheGs2HeaderOfClientFirst() throws Exception {
        String rest = CLIENT_FINAL.substring("c=biws".length());
        for (String c : new String[] {"c=eSws", "c=", "c=bix="}) { // "y,,", nothing, garbage
            ScramServerExchange s = new ScramServerExchange(PENCIL, SERVER_NONCE);
            s.serverFirst(CLIENT_FIRST);
            assertThatThrownBy(() -> s.serverFinal(c + rest))
                    .isInstanceOfSatisfying(ScramServerExchange.ScramException.class, e -> assertThat(e.wrongPassword()).isFalse())
                    .hasMessageContaining("channel-binding data (c=) does not match");
        }
        ScramServerExchange noC = new ScramServerExchange(PENCIL, SERVER_NONCE);
        noC.serverFirst(CLIENT_FIRST);
        assertThatThrownBy(() -> noC.serverFinal(rest.substring(1))).hasMessageContaining("does not match");
        // a client that supports channel binding but saw none offered sends y,, and echoes it
        ScramServerExchange y = new ScramServerExchange(PENCIL, "srv");
        ScramClientExchange client = new ScramClientExchange("", "pencil", "abc");
        String first = "y" + client.clientFirst().substring(1);
        y.serverFirst(first);
        assertThatThrownBy(() -> y.serverFinal("c=biws,r=abcsrv,p=AAAA")).hasMessageContaining("does not match");
        assertThatThrownBy(() -> new ScramServerExchange(PENCIL, "x").serverFirst("n,a=admin,n=user,r=abc"))
                .hasMessageContaining("authorization identities (a=) are not supported");
    }

    @Test
    void verifiersRoundTripPostgresTextFormAndHideTheirKeys() {
        ScramVerifier v = ScramVerifier.fromPassword("s3cret", new SecureRandom());
        ScramVerifier parsed = ScramVerifier.parse(v.format());
        assertThat(parsed).isNotNull();
        assertThat(parsed.format()).isEqualTo(v.format()).startsWith("SCRAM-SHA-256$4096:");
        assertThat(v.toString()).doesNotContain(Base64.getEncoder().encodeToString(v.storedKey()));
        assertThat(ScramVerifier.parse("md5abcdef")).isNull();
        assertThat(ScramVerifier.parse("SCRAM-SHA-256$4096:%%%$a:b")).isNull();
    }

    @Test
    void aVerifierFromItsTextFormChecksTheRfcPassword() throws Exception {
        ScramVerifier stored = ScramVerifier.parse(PENCIL.format());
        ScramServerExchange server = new ScramServerExchange(stored, SERVER_NONCE);
        server.serverFirst(CLIENT_FIRST);
        assertThat(server.serverFinal(CLIENT_FINAL)).isEqualTo(SERVER_FINAL);
    }

    @Test
    void aMockVerifierShowsAStableSaltPerNameAndAcceptsNoPassword() throws Exception {
        java.security.SecureRandom random = new java.security.SecureRandom();
        byte[] secret = random.generateSeed(16);
        ScramVerifier a1 = ScramVerifier.mock("ghost", secret, random);
        ScramVerifier a2 = ScramVerifier.mock("ghost", secret, random);
        ScramVerifier b = ScramVerifier.mock("other", secret, random);
        assertThat(a1.salt()).as("the same name shows the same salt, like a real user").isEqualTo(a2.salt());
        assertThat(b.salt()).isNotEqualTo(a1.salt());
        for (String password : new String[] {"", "ghost", "pencil"}) {
            ScramServerExchange server = new ScramServerExchange(a1, "srvnonce");
            ScramClientExchange client = new ScramClientExchange("", password, "clinonce");
            String clientFinal = client.clientFinal(server.serverFirst(client.clientFirst()));
            assertThatThrownBy(() -> server.serverFinal(clientFinal)).isInstanceOf(ScramServerExchange.ScramException.class)
                    .satisfies(e -> assertThat(((ScramServerExchange.ScramException) e).wrongPassword()).isTrue());
        }
    }

    @Test
    void theSaltedPasswordIsDerivedOncePerSaltAndCanBeDerivedAheadOfTheExchange() throws Exception {
        byte[] salt = new byte[16];
        new SecureRandom().nextBytes(salt); // a salt no other test used, so nothing is cached yet
        String serverFirst = "r=nonce-of-the-clientSERVER,s=" + Base64.getEncoder().encodeToString(salt) + ",i=4096";
        ScramClientExchange first = new ScramClientExchange("", "secret", "nonce-of-the-client");
        first.clientFirst();
        assertThat(first.derivationPending(serverFirst)).isTrue();
        first.derive(serverFirst);
        assertThat(first.derivationPending(serverFirst)).as("cached after derive").isFalse();
        ScramClientExchange second = new ScramClientExchange("", "secret", "nonce-of-the-client");
        second.clientFirst();
        assertThat(second.derivationPending(serverFirst)).as("another login, same password and salt").isFalse();
        ScramClientExchange otherPassword = new ScramClientExchange("", "other", "nonce-of-the-client");
        otherPassword.clientFirst();
        assertThat(otherPassword.derivationPending(serverFirst)).isTrue();
        assertThat(first.clientFinal(serverFirst)).isEqualTo(second.clientFinal(serverFirst));
    }

    @Test
    void aServerFirstMessageWithAHostileIterationCountIsRefused() {
        ScramClientExchange c = new ScramClientExchange("", "secret", "abc");
        c.clientFirst();
        for (String i : new String[] {"0", "-1", "99999999999", "many"}) {
            assertThatThrownBy(() -> c.derivationPending("r=abcdef,s=c2FsdA==,i=" + i)).as("i=" + i)
                    .isInstanceOf(ScramServerExchange.ScramException.class).hasMessageContaining("malformed");
        }
    }
}

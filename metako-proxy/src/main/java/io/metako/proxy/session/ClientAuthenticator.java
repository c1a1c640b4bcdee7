package io.metako.proxy.session;

import io.metako.proxy.auth.ScramServerExchange;
import io.metako.proxy.auth.ScramVerifier;
import io.metako.proxy.protocol.BackendMessages;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.protocol.ProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Optional;

/**
 * One client's login to the proxy, by the configured method: the request to send first, then
 * each password message checked. An unknown user goes through the same exchange as a known one
 * (a SCRAM exchange that cannot succeed), so the answers do not tell whether the user exists.
 */
final class ClientAuthenticator {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final byte[] MOCK_SECRET = RANDOM.generateSeed(16);

    enum Outcome { CONTINUE, AUTHENTICATED, REFUSED }

    /** What a password message led to, and the answer to send (null: none). */
    record Step(Outcome outcome, ByteBuf answer) {
    }

    private final RouterSettings.ClientAuth method;
    private final RouterSettings.ClientUser user;
    private final String userName;
    private ScramServerExchange scram;
    private byte[] md5Salt;

    /** A fresh SCRAM nonce (18 random bytes, base64). */
    static String nonce() {
        byte[] b = new byte[18];
        RANDOM.nextBytes(b);
        return java.util.Base64.getEncoder().encodeToString(b);
    }

    /** {@code user}: null when no user {@code userName} is configured. */
    ClientAuthenticator(RouterSettings.ClientAuth method, String userName, RouterSettings.ClientUser user) {
        this.method = method;
        this.userName = userName;
        this.user = user;
    }

    /** The authentication request that opens the login. */
    ByteBuf request(ByteBufAllocator alloc) {
        return switch (method) {
            case SCRAM_SHA_256 -> BackendMessages.authenticationSasl(alloc, "SCRAM-SHA-256");
            case MD5 -> {
                md5Salt = new byte[4];
                RANDOM.nextBytes(md5Salt);
                yield BackendMessages.authenticationMd5(alloc, md5Salt);
            }
            case PASSWORD -> BackendMessages.authenticationCleartext(alloc);
        };
    }

    /** Checks one password message (its payload); a malformed one is a {@link ProtocolException}. */
    Step onPassword(ByteBuf payload, ByteBufAllocator alloc) {
        try {
            if (method != RouterSettings.ClientAuth.SCRAM_SHA_256) {
                String given = FrontendMessages.password(payload);
                Optional<String> known = user == null ? Optional.empty() : user.password();
                String expected = known.map(p -> method == RouterSettings.ClientAuth.MD5
                        ? io.metako.proxy.auth.Md5Password.answer(user.name(), p, md5Salt) : p).orElse(null);
                boolean ok = expected != null && MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                        given.getBytes(StandardCharsets.UTF_8));
                return new Step(ok ? Outcome.AUTHENTICATED : Outcome.REFUSED, null);
            }
            if (scram == null) {
                FrontendMessages.SaslInitial initial = FrontendMessages.SaslInitial.parse(payload);
                if (!"SCRAM-SHA-256".equals(initial.mechanism())) {
                    throw new ProtocolException("client selected an invalid SASL authentication mechanism");
                }
                ScramVerifier verifier = user != null ? user.verifier() : ScramVerifier.mock(userName, MOCK_SECRET, RANDOM);
                scram = new ScramServerExchange(verifier, nonce());
                String serverFirst = scram.serverFirst(initial.data());
                return new Step(Outcome.CONTINUE,
                        BackendMessages.authenticationSaslData(alloc, BackendMessages.AUTH_SASL_CONTINUE, serverFirst));
            }
            String serverFinal = scram.serverFinal(FrontendMessages.saslResponse(payload));
            if (user == null) {
                return new Step(Outcome.REFUSED, null);
            }
            return new Step(Outcome.AUTHENTICATED,
                    BackendMessages.authenticationSaslData(alloc, BackendMessages.AUTH_SASL_FINAL, serverFinal));
        } catch (ScramServerExchange.ScramException e) {
            if (e.wrongPassword()) {
                return new Step(Outcome.REFUSED, null);
            }
            throw new ProtocolException(e.getMessage());
        }
    }
}

package io.metako.proxy.auth;

import java.security.MessageDigest;
import java.util.HashMap;
import java.util.Map;

/**
 * The server side of one SCRAM-SHA-256 exchange (the proxy authenticating a client): takes the
 * client-first message, answers server-first, checks client-final and answers server-final.
 * Channel binding is not offered (the client must send {@code n,,} or {@code y,,}).
 */
public final class ScramServerExchange {
    /** Why an exchange failed; the session answers 28P01 for a wrong password, 08P01 otherwise. */
    public static final class ScramException extends Exception {
        private static final long serialVersionUID = 1L;
        private final boolean wrongPassword;

        ScramException(String message, boolean wrongPassword) {
            super(message);
            this.wrongPassword = wrongPassword;
        }

        public boolean wrongPassword() {
            return wrongPassword;
        }
    }

    private final ScramVerifier verifier;
    private final String serverNonceSuffix;
    private String clientFirstBare;
    /** The client-first message's GS2 header ({@code n,,} or {@code y,,}), which client-final must echo in {@code c=}. */
    private String gs2Header;
    private String serverFirst;
    private String nonce;

    /** {@code serverNonceSuffix}: fresh random printable characters for this exchange. */
    public ScramServerExchange(ScramVerifier verifier, String serverNonceSuffix) {
        this.verifier = verifier;
        this.serverNonceSuffix = serverNonceSuffix;
    }

    public String serverFirst(String clientFirst) throws ScramException {
        if (!clientFirst.startsWith("n,") && !clientFirst.startsWith("y,")) {
            throw new ScramException("channel binding is not supported here: the client-first message must start with n,, or y,,", false);
        }
        int bareAt = clientFirst.indexOf(',', clientFirst.indexOf(',') + 1);
        if (bareAt < 0) {
            throw new ScramException("malformed SCRAM client-first message", false);
        }
        if (bareAt != 2) {
            throw new ScramException("SCRAM authorization identities (a=) are not supported", false);
        }
        gs2Header = clientFirst.substring(0, bareAt + 1);
        clientFirstBare = clientFirst.substring(bareAt + 1);
        String clientNonce = attributes(clientFirstBare).get('r');
        if (clientNonce == null || clientNonce.isEmpty()) {
            throw new ScramException("SCRAM client-first message without a nonce", false);
        }
        nonce = clientNonce + serverNonceSuffix;
        serverFirst = "r=" + nonce + ",s=" + ScramSha256.b64(verifier.salt()) + ",i=" + verifier.iterations();
        return serverFirst;
    }

    /** Checks the client's proof; returns server-final ({@code v=...}) when it holds. */
    public String serverFinal(String clientFinal) throws ScramException {
        if (serverFirst == null) {
            throw new ScramException("SCRAM client-final message before client-first", false);
        }
        int proofAt = clientFinal.lastIndexOf(",p=");
        if (proofAt < 0) {
            throw new ScramException("malformed SCRAM client-final message: no proof", false);
        }
        String withoutProof = clientFinal.substring(0, proofAt);
        Map<Character, String> attrs = attributes(clientFinal);
        if (!nonce.equals(attrs.get('r'))) {
            throw new ScramException("SCRAM nonce mismatch", false);
        }
        if (!ScramSha256.b64(gs2Header.getBytes(java.nio.charset.StandardCharsets.US_ASCII)).equals(attrs.get('c'))) {
            // RFC 5802: c= carries the GS2 header of client-first; anything else is a tampered or confused exchange
            throw new ScramException("SCRAM channel-binding data (c=) does not match the client-first message", false);
        }
        String authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof;
        byte[] clientSignature = ScramSha256.hmac(verifier.storedKey(), authMessage);
        byte[] proof;
        try {
            proof = ScramSha256.unb64(attrs.get('p'));
        } catch (IllegalArgumentException e) {
            throw new ScramException("malformed SCRAM proof", false);
        }
        if (proof.length != clientSignature.length) {
            throw new ScramException("malformed SCRAM proof", false);
        }
        byte[] clientKey = ScramSha256.xor(proof, clientSignature);
        if (!MessageDigest.isEqual(ScramSha256.sha256(clientKey), verifier.storedKey())) {
            throw new ScramException("password authentication failed", true);
        }
        return "v=" + ScramSha256.b64(ScramSha256.hmac(verifier.serverKey(), authMessage));
    }

    static Map<Character, String> attributes(String message) {
        Map<Character, String> out = new HashMap<>();
        for (String part : message.split(",")) {
            if (part.length() >= 2 && part.charAt(1) == '=') {
                out.put(part.charAt(0), part.substring(2));
            }
        }
        return out;
    }
}

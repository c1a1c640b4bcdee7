package io.metako.server.tls;

import io.grpc.util.AdvancedTlsX509KeyManager;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * This instance's certificate and key ({@code security.cert_file} / {@code key_file}) behind one key manager that
 * every TLS port presents: the statement router, the admin API, HTTP and the Raft links, and the key that signs its
 * Raft commands. {@link #use} swaps them (a reload with renewed files): handshakes from then on present the new
 * certificate; connections open go on with the one they started with.
 */
public final class InstanceCertificate {
    private final Path certFile;
    private final Path keyFile;
    private final AdvancedTlsX509KeyManager keyManager = new AdvancedTlsX509KeyManager();
    private volatile Identity identity;

    /** A private key and the certificate chain that goes with it, this instance's own first. */
    public record Identity(PrivateKey key, X509Certificate[] chain) {
        public X509Certificate certificate() {
            return chain[0];
        }
    }

    private InstanceCertificate(Path certFile, Path keyFile) {
        this.certFile = certFile;
        this.keyFile = keyFile;
    }

    /** Reads the pair; an {@link IOException} names the file and what is wrong with it. */
    public static InstanceCertificate load(Path certFile, Path keyFile) throws IOException {
        InstanceCertificate c = new InstanceCertificate(certFile, keyFile);
        c.use(c.read());
        return c;
    }

    /** The files as they are now, checked (the key must be the certificate's), without using them yet. */
    public Identity read() throws IOException {
        try {
            X509Certificate[] chain = certificates(certFile);
            PrivateKey key = privateKey(keyFile);
            byte[] probe = "pg-metako".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            Signature sign = Signature.getInstance(signatureAlgorithm(key.getAlgorithm()));
            sign.initSign(key);
            sign.update(probe);
            byte[] signature = sign.sign();
            Signature verify = Signature.getInstance(signatureAlgorithm(key.getAlgorithm()));
            verify.initVerify(chain[0].getPublicKey());
            verify.update(probe);
            if (!verify.verify(signature)) {
                throw new GeneralSecurityException("the key in " + keyFile + " is not the key of the certificate in " + certFile);
            }
            return new Identity(key, chain);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new IOException("security.cert_file / key_file (" + certFile + ", " + keyFile + "): " + e.getMessage(), e);
        }
    }

    /** Presents {@code id} from the next handshake on, and signs with its key. */
    public void use(Identity id) {
        keyManager.updateIdentityCredentials(id.chain(), id.key());
        identity = id;
    }

    public X509ExtendedKeyManager keyManager() {
        return keyManager;
    }

    /** The key and certificate in use, read together (a renewal swaps both at once). */
    public Identity identity() {
        return identity;
    }

    public PrivateKey key() {
        return identity.key();
    }

    public X509Certificate certificate() {
        return identity.certificate();
    }

    public Path certFile() {
        return certFile;
    }

    /** The signature algorithm for a key of {@code keyAlgorithm}: RSA, EC or Ed25519. */
    public static String signatureAlgorithm(String keyAlgorithm) {
        return switch (keyAlgorithm) {
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            default -> "SHA256with" + keyAlgorithm;
        };
    }

    /** Every certificate in a PEM file, in its order. */
    public static X509Certificate[] certificates(Path file) throws IOException, GeneralSecurityException {
        try (InputStream in = Files.newInputStream(file)) {
            X509Certificate[] chain = CertificateFactory.getInstance("X.509").generateCertificates(in).stream()
                    .map(X509Certificate.class::cast).toArray(X509Certificate[]::new);
            if (chain.length == 0) {
                throw new GeneralSecurityException(file + " holds no certificate");
            }
            return chain;
        }
    }

    /** A PKCS#8 PEM key ({@code BEGIN PRIVATE KEY}), RSA, EC or Ed25519. */
    public static PrivateKey privateKey(Path file) throws IOException, GeneralSecurityException {
        String pem = Files.readString(file);
        int begin = pem.indexOf("-----BEGIN PRIVATE KEY-----");
        int end = pem.indexOf("-----END PRIVATE KEY-----");
        if (begin < 0 || end < 0) {
            throw new GeneralSecurityException(file + " is not a PKCS#8 PEM key (BEGIN PRIVATE KEY): convert it with "
                    + "openssl pkcs8 -topk8 -nocrypt");
        }
        byte[] der = Base64.getMimeDecoder().decode(pem.substring(begin + 27, end));
        GeneralSecurityException last = null;
        for (String alg : new String[] {"RSA", "EC", "Ed25519"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException e) {
                last = e;
            }
        }
        throw last;
    }

    /** A trust manager that accepts what the certificates in {@code caFile} signed. */
    public static TrustManager trusting(Path caFile) throws IOException {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int i = 0;
            for (X509Certificate ca : certificates(caFile)) {
                store.setCertificateEntry("ca-" + i++, ca);
            }
            TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            f.init(store);
            return f.getTrustManagers()[0];
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot trust " + caFile + ": " + e.getMessage(), e);
        }
    }
}

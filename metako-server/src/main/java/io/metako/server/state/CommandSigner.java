package io.metako.server.state;

import io.metako.proto.v1.Command;
import io.metako.proto.v1.SignedCommand;
import io.metako.server.config.SecurityConfig;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * Signs this instance's commands with its TLS key, and verifies other instances' ones against the cluster CA,
 * when the Raft links run under mutual TLS. TLS proves a peer belongs to the cluster; the signature proves
 * which member a command comes from, so that an acknowledgement or a verdict counts for the instance it names
 * and no other.
 */
public final class CommandSigner {
    private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

    /** This instance's key and certificate; a reload may renew them. */
    private final io.metako.server.tls.InstanceCertificate own;
    private final X509Certificate ca;
    /** Whether an instance id is one of the Raft group's now: only their certificates may sign. */
    private final java.util.function.Predicate<String> peers;

    CommandSigner(io.metako.server.tls.InstanceCertificate own, X509Certificate ca,
                  java.util.function.Predicate<String> peers) {
        this.own = own;
        this.ca = ca;
        this.peers = peers;
    }

    /** The instance's signer when {@code security.raft_tls_enabled}; null otherwise. {@code peers}: the group's ids. */
    public static CommandSigner of(SecurityConfig security, java.util.Collection<String> peers) throws IOException {
        return security.raftTlsEnabled() ? of(security, io.metako.server.tls.InstanceCertificate.load(security.certFile(),
                security.keyFile()), peers) : null;
    }

    /** Likewise, signing with {@code own} (the instance's certificate every TLS port presents). */
    public static CommandSigner of(SecurityConfig security, io.metako.server.tls.InstanceCertificate own,
                                   java.util.Collection<String> peers) throws IOException {
        java.util.Set<String> ids = java.util.Set.copyOf(peers);
        return of(security, own, ids::contains);
    }

    /** Likewise, for a group whose members change: {@code member} says whether an id is one of them now. */
    public static CommandSigner of(SecurityConfig security, io.metako.server.tls.InstanceCertificate own,
                                   java.util.function.Predicate<String> member) throws IOException {
        if (!security.raftTlsEnabled()) {
            return null;
        }
        try {
            return new CommandSigner(own, io.metako.server.tls.InstanceCertificate.certificates(security.raftCa())[0],
                    member);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot sign Raft commands with security.cert_file / key_file / raft_ca_file: "
                    + e.getMessage(), e);
        }
    }

    /** {@code command} wrapped with this instance's certificate and signature. */
    public byte[] sign(Command command) {
        byte[] bytes = command.toByteArray();
        io.metako.server.tls.InstanceCertificate.Identity id = own.identity(); // one pair, even during a renewal
        java.security.PrivateKey key = id.key();
        X509Certificate certificate = id.certificate();
        try {
            Signature s = Signature.getInstance(algorithm(key.getAlgorithm()));
            s.initSign(key);
            s.update(bytes);
            return SignedCommand.newBuilder().setCommand(com.google.protobuf.ByteString.copyFrom(bytes))
                    .setCertificate(com.google.protobuf.ByteString.copyFrom(certificate.getEncoded()))
                    .setSignature(com.google.protobuf.ByteString.copyFrom(s.sign())).build().toByteArray();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("signing a command failed: " + e.getMessage(), e);
        }
    }

    /**
     * The command inside {@code data}, once its certificate proves to be the cluster CA's and names the command's
     * proposer, and its signature holds; a {@link GeneralSecurityException} saying what failed otherwise.
     */
    public Command verify(byte[] data) throws GeneralSecurityException {
        SignedCommand signed;
        Command command;
        try {
            signed = SignedCommand.parseFrom(data);
            command = Command.parseFrom(signed.getCommand());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new GeneralSecurityException("not a signed metako command: " + e.getMessage());
        }
        if (signed.getCertificate().isEmpty() || signed.getSignature().isEmpty()) {
            throw new GeneralSecurityException("unsigned command: the Raft links run under mutual TLS, every command must be signed");
        }
        X509Certificate sender = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(signed.getCertificate().toByteArray()));
        String cn = member(sender);
        if (!cn.equals(command.getProposer())) {
            throw new GeneralSecurityException("command proposed as '" + printable(command.getProposer()) + "' but signed by '"
                    + cn + "'");
        }
        Signature s = Signature.getInstance(algorithm(sender.getPublicKey().getAlgorithm()));
        s.initVerify(sender.getPublicKey());
        s.update(signed.getCommand().toByteArray());
        if (!s.verify(signed.getSignature().toByteArray())) {
            throw new GeneralSecurityException("the signature of '" + cn + "' does not match the command");
        }
        return command;
    }

    /**
     * The instance id {@code certificate} proves, once it is the cluster CA's, valid today, not a CA, an instance's
     * (serverAuth and clientAuth) and named for a member of this group; a {@link GeneralSecurityException} saying
     * which of these failed otherwise. A Raft connection and a command's signature are both held to it.
     */
    public String member(X509Certificate certificate) throws GeneralSecurityException {
        return member(certificate, peers);
    }

    /**
     * Likewise, with {@code members} saying which instance ids are the group's (the Raft port's gate admits more than
     * the signatures do: an instance catching up must accept a leader its log does not know yet).
     */
    public String member(X509Certificate certificate, java.util.function.Predicate<String> members)
            throws GeneralSecurityException {
        ca.checkValidity();
        certificate.checkValidity();
        if (!certificate.getIssuerX500Principal().equals(ca.getSubjectX500Principal())) {
            throw new GeneralSecurityException("the certificate was not issued by the cluster CA");
        }
        certificate.verify(ca.getPublicKey()); // signed by the cluster CA
        if (certificate.getBasicConstraints() != -1) {
            throw new GeneralSecurityException("a CA certificate is no instance's");
        }
        java.util.List<String> usages = certificate.getExtendedKeyUsage();
        if (usages != null && !(usages.contains(SERVER_AUTH) && usages.contains(CLIENT_AUTH))) {
            // an instance's certificate serves and connects (deploy/certs.sh instance); an operator's only connects
            throw new GeneralSecurityException("not an instance certificate (it must allow serverAuth and clientAuth)");
        }
        String cn = commonName(certificate);
        if (!members.test(cn)) {
            throw new GeneralSecurityException("'" + printable(cn) + "' is not an instance of this Raft group");
        }
        return cn;
    }

    /** At most 64 printable characters of a sender-chosen string, for a log line. */
    private static String printable(String s) {
        String t = s.replaceAll("[^\\x20-\\x7e]", "?");
        return t.length() > 64 ? t.substring(0, 64) + "..." : t;
    }

    private static String commonName(X509Certificate c) throws GeneralSecurityException {
        try {
            for (Rdn rdn : new LdapName(c.getSubjectX500Principal().getName()).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    return rdn.getValue().toString();
                }
            }
        } catch (InvalidNameException e) {
            throw new GeneralSecurityException("unreadable certificate subject: " + e.getMessage());
        }
        throw new GeneralSecurityException("the certificate names no instance (no CN)");
    }

    private static String algorithm(String keyAlgorithm) {
        return io.metako.server.tls.InstanceCertificate.signatureAlgorithm(keyAlgorithm);
    }

    /** This instance's public key (tests). */
    PublicKey publicKey() {
        return own.certificate().getPublicKey();
    }
}

package io.metako.server.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.client.MetakoClient;
import io.metako.client.MetakoClientException;
import io.metako.client.cli.Metakoctl;
import io.metako.server.config.HostPort;
import io.metako.server.config.Secret;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin API over TLS and mutual TLS, with a cluster CA and certificates made by {@code deploy/certs.sh}
 * (openssl), through the Java client and metakoctl.
 */
class AdminTlsTest {
    private static final String TOKEN = "the-right-token-0123456789";
    @TempDir
    static Path dir;
    static Path ca;
    static Path otherCa;
    static Path serverCert;
    static Path serverKey;
    static Path clientCert;
    static Path clientKey;

    @BeforeAll
    static void certificates() throws Exception {
        certs("init", dir.resolve("pki").toString());
        certs("instance", dir.resolve("pki").toString(), "metako-1", "127.0.0.1,localhost");
        certs("client", dir.resolve("pki").toString(), "operator");
        certs("instance", dir.resolve("pki").toString(), "metako-9", "127.0.0.1,localhost");
        // metako-1's certificate renewed: a new key and certificate from the same CA
        java.nio.file.Files.createDirectories(dir.resolve("renewed"));
        for (String f : List.of("ca.crt", "ca.key")) {
            java.nio.file.Files.copy(dir.resolve("pki").resolve(f), dir.resolve("renewed").resolve(f));
        }
        certs("instance", dir.resolve("renewed").toString(), "metako-1", "127.0.0.1,localhost");
        certs("init", dir.resolve("other").toString());
        ca = dir.resolve("pki/ca.crt");
        otherCa = dir.resolve("other/ca.crt");
        serverCert = dir.resolve("pki/metako-1.crt");
        serverKey = dir.resolve("pki/metako-1.key");
        clientCert = dir.resolve("pki/operator.crt");
        clientKey = dir.resolve("pki/operator.key");
    }

    private static void certs(String... args) throws Exception {
        java.util.List<String> cmd = new java.util.ArrayList<>(List.of("bash", Path.of("..", "deploy", "certs.sh").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(out).isZero();
    }

    private static AdminServer server(AdminServer.Tls tls) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        AdminServer server = new AdminServer(new HostPort("127.0.0.1", port), Secret.of(TOKEN), Secret.none(),
                new AdminServiceTest.FakeSource(), tls);
        server.start();
        return server;
    }

    private static String endpoint(AdminServer s) {
        return "127.0.0.1:" + s.port();
    }

    @Test
    void aTlsServerAnswersAClientThatTrustsItsCertificateAndRefusesPlaintext() throws Exception {
        try (AdminServer s = server(new AdminServer.Tls(serverCert, serverKey, null))) {
            try (MetakoClient c = new MetakoClient(List.of(endpoint(s)), TOKEN, Duration.ofSeconds(3),
                    new MetakoClient.Tls(ca, null, null))) {
                assertThat(c.status().getAnsweredBy()).isEqualTo("m1");
            }
            try (MetakoClient plain = new MetakoClient(List.of(endpoint(s)), TOKEN, Duration.ofSeconds(2))) {
                assertThatThrownBy(plain::status).isInstanceOf(MetakoClientException.class)
                        .hasMessageContaining("needs --cacert (TLS)");
            }
            try (MetakoClient wrongCa = new MetakoClient(List.of(endpoint(s)), TOKEN, Duration.ofSeconds(2),
                    new MetakoClient.Tls(otherCa, null, null))) {
                assertThatThrownBy(wrongCa::status).isInstanceOf(MetakoClientException.class)
                        .hasMessageContaining("that --cacert is the CA that signed their certificates");
            }
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            int code = Metakoctl.commandLine(Map.of("METAKO_TOKEN", TOKEN, "METAKO_CACERT", ca.toString()))
                    .setOut(new PrintWriter(out)).setErr(new PrintWriter(err))
                    .execute("--endpoints", endpoint(s), "-o", "json", "status");
            assertThat(code).as(err.toString()).isZero();
            assertThat(out.toString()).contains("\"answered_by\": \"m1\"");
        }
    }

    @Test
    void withAClientCaOnlyClientsWithACertificateItSignedGetIn() throws Exception {
        try (AdminServer s = server(new AdminServer.Tls(serverCert, serverKey, ca))) {
            try (MetakoClient anonymous = new MetakoClient(List.of(endpoint(s)), TOKEN, Duration.ofSeconds(2),
                    new MetakoClient.Tls(ca, null, null))) {
                assertThatThrownBy(anonymous::status).isInstanceOf(MetakoClientException.class);
            }
            try (MetakoClient c = new MetakoClient(List.of(endpoint(s)), TOKEN, Duration.ofSeconds(3),
                    new MetakoClient.Tls(ca, clientCert, clientKey))) {
                assertThat(c.status().getAnsweredBy()).isEqualTo("m1");
            }
        }
        assertThatThrownBy(() -> new MetakoClient.Tls(ca, clientCert, null))
                .hasMessageContaining("a client certificate needs its key");
    }

    @org.junit.jupiter.api.Test
    void theHttpEndpointsSpeakHttpsWithTheSameCertificateAndRefusePlainHttp() throws Exception {
        io.metako.server.http.HttpServer.Backend backend = leaderBackend();
        try (io.metako.server.http.HttpServer s = new io.metako.server.http.HttpServer(
                new io.metako.server.config.HostPort("127.0.0.1", 0), io.metako.server.config.HttpConfig.DEFAULT,
                List.of(), io.metako.server.http.HttpServer.tls(serverCert, serverKey), backend, "test").start()) {
            java.net.http.HttpClient https = java.net.http.HttpClient.newBuilder().sslContext(trustingCa()).build();
            java.net.http.HttpResponse<String> r = https.send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("https://127.0.0.1:" + s.port() + "/leader")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).contains("\"raft_role\":\"leader\"");
            assertThatThrownBy(() -> java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://127.0.0.1:" + s.port() + "/leader")).timeout(java.time.Duration.ofSeconds(5))
                    .build(), java.net.http.HttpResponse.BodyHandlers.ofString()))
                    .as("plain HTTP to the HTTPS port gets no answer").isInstanceOf(java.io.IOException.class);
        }
        assertThatThrownBy(() -> io.metako.server.http.HttpServer.tls(serverKey, serverCert))
                .hasMessageContaining("security.cert_file / key_file");
    }

    /** An HTTP backend that says it leads (what the HTTPS tests ask of it does not matter). */
    private static io.metako.server.http.HttpServer.Backend leaderBackend() {
        return new io.metako.server.http.HttpServer.Backend() {
            @Override
            public io.metako.server.http.HttpChecks.View view() {
                return new io.metako.server.http.HttpChecks.View("metako-1", io.metako.proto.v1.MemberRole.LEADER,
                        "metako-1", 1, true, 1, io.metako.proxy.routing.RoutingTable.unknown(), 1);
            }

            @Override
            public String clusterJson() {
                return "{}";
            }

            @Override
            public String historyJson() {
                return "{}";
            }
        };
    }

    /** TLS for a client that trusts the cluster CA only. */
    private static javax.net.ssl.SSLContext trustingCa() throws Exception {
        javax.net.ssl.SSLContext ssl = javax.net.ssl.SSLContext.getInstance("TLS");
        ssl.init(null, new javax.net.ssl.TrustManager[] {io.metako.server.tls.InstanceCertificate.trusting(ca)}, null);
        return ssl;
    }

    /** The serial number of the certificate an HTTPS handshake with a fresh client shows, with its subject. */
    private static String presented(int port) throws Exception {
        java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newBuilder().sslContext(trustingCa()).build().send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create("https://127.0.0.1:" + port + "/liveness")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        var c = (java.security.cert.X509Certificate) r.sslSession().orElseThrow().getPeerCertificates()[0];
        return c.getSubjectX500Principal().getName() + " #" + c.getSerialNumber().toString(16);
    }

    private static String serialOf(Path cert) throws Exception {
        try (java.io.InputStream in = java.nio.file.Files.newInputStream(cert)) {
            var c = (java.security.cert.X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(in);
            return c.getSubjectX500Principal().getName() + " #" + c.getSerialNumber().toString(16);
        }
    }

    @Test
    void aRenewedCertificateIsPresentedFromTheNextHandshakeAndAMismatchedPairIsRefused() throws Exception {
        Path cert = dir.resolve("renew.crt");
        Path key = dir.resolve("renew.key");
        java.nio.file.Files.copy(serverCert, cert, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        java.nio.file.Files.copy(serverKey, key, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        io.metako.server.tls.InstanceCertificate certificate = io.metako.server.tls.InstanceCertificate.load(cert, key);
        io.metako.server.http.HttpServer.Backend backend = leaderBackend();
        Path renewedCert = dir.resolve("renewed/metako-1.crt");
        assertThat(serialOf(renewedCert)).as("a new serial for the same name").isNotEqualTo(serialOf(serverCert))
                .startsWith("CN=metako-1 #");
        try (io.metako.server.http.HttpServer s = new io.metako.server.http.HttpServer(
                new io.metako.server.config.HostPort("127.0.0.1", 0), io.metako.server.config.HttpConfig.DEFAULT,
                List.of(), io.metako.server.http.HttpServer.tls(certificate), backend, "test").start()) {
            assertThat(presented(s.port())).isEqualTo(serialOf(serverCert));
            // the new certificate is written before its key: that pair does not go together, and changes nothing
            java.nio.file.Files.copy(renewedCert, cert, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            assertThatThrownBy(certificate::read).hasMessageContaining("is not the key of the certificate");
            assertThat(presented(s.port())).isEqualTo(serialOf(serverCert));
            // then the key: the renewed pair, at the same paths, presented from the next handshake on
            java.nio.file.Files.copy(dir.resolve("renewed/metako-1.key"), key, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            certificate.use(certificate.read());
            assertThat(presented(s.port())).isEqualTo(serialOf(renewedCert));
        }
    }
}

package io.metako.server.config;

import io.metako.proxy.session.RouterSettings;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * TLS for the proxy and the admin API, and toward the PostgreSQL nodes.
 *
 * @param backendSslMode  {@code security.backend_sslmode}: TLS from this instance to the nodes (the statement
 *                        router's connections, the probes, the controller's), libpq's sslmode meanings; prefer
 *                        when not set, the default of libpq and pgjdbc
 * @param backendRootCert {@code security.backend_ssl_root_cert}: the CA the nodes' certificates must chain to
 *                        (verify-ca, verify-full); null when not set
 * @param backendAllowCleartextPassword {@code security.backend_allow_cleartext_password}: whether the statement
 *                        router may answer a node's request for a clear-text password when the node's certificate
 *                        is not verified (false: such a login fails, saying why)
 * @param apiTlsEnabled   {@code security.api_tls_enabled}: the admin API speaks TLS, with {@code cert_file} and
 *                        {@code key_file}
 * @param apiClientCa     {@code security.api_client_ca_file}: when set, admin API clients must present a certificate
 *                        signed by this CA (mutual TLS); null when not set
 * @param raftTlsEnabled  {@code security.raft_tls_enabled}: mutual TLS on the Raft links, with {@code cert_file} /
 *                        {@code key_file} and peers whose certificate {@code raft_ca_file} signed
 * @param raftCa          {@code security.raft_ca_file}: the cluster CA; null when Raft TLS is off
 * @param httpTlsEnabled  {@code security.http_tls_enabled}: the HTTP endpoints on {@code instance.http_address}
 *                        speak HTTPS, with {@code cert_file} and {@code key_file}
 */
public record SecurityConfig(boolean tlsEnabled, Path certFile, Path keyFile, RouterSettings.SslMode backendSslMode,
                             Path backendRootCert, boolean backendAllowCleartextPassword, boolean apiTlsEnabled,
                             Path apiClientCa, boolean raftTlsEnabled, Path raftCa, boolean httpTlsEnabled) {
    /**
     * The pgjdbc properties giving metako's own connections to the nodes (probes, the controller's promotions and
     * re-pointing) the same TLS as the router's (pgjdbc's {@code sslmode} has the same values).
     */
    public Map<String, String> jdbcProperties() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("sslmode", backendSslMode.setting());
        if (backendRootCert != null) {
            m.put("sslrootcert", backendRootCert.toString());
        }
        return m;
    }
}

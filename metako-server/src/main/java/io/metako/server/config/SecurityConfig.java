package io.metako.server.config;

import io.metako.proxy.session.RouterSettings;
import java.nio.file.Path;

/**
 * TLS for the proxy and the admin API, and toward the PostgreSQL nodes.
 *
 * @param backendSslMode  {@code security.backend_sslmode}: TLS from the proxy to the nodes, libpq's sslmode meanings
 * @param backendRootCert {@code security.backend_ssl_root_cert}: the CA the nodes' certificates must chain to
 *                        (verify-ca, verify-full); null when not set
 */
public record SecurityConfig(boolean tlsEnabled, Path certFile, Path keyFile, RouterSettings.SslMode backendSslMode,
                             Path backendRootCert) {
    /**
     * The pgjdbc properties giving metako's own connections to the nodes (probes, the controller's
     * promotions and re-pointing) the same TLS as the proxy's: pgjdbc's {@code sslmode} has the same values.
     */
    public java.util.Map<String, String> jdbcProperties() {
        java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("sslmode", backendSslMode.setting());
        if (backendRootCert != null) {
            m.put("sslrootcert", backendRootCert.toString());
        }
        return m;
    }
}

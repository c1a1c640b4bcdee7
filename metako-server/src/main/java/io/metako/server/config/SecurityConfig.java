package io.metako.server.config;

import io.metako.proxy.session.RouterSettings;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * TLS for the proxy and the admin API, and toward the PostgreSQL nodes.
 *
 * @param backendSslMode  {@code security.backend_sslmode} as configured, empty when it is not: TLS from this instance
 *                        to the nodes, libpq's sslmode meanings
 * @param backendRootCert {@code security.backend_ssl_root_cert}: the CA the nodes' certificates must chain to
 *                        (verify-ca, verify-full); null when not set
 */
public record SecurityConfig(boolean tlsEnabled, Path certFile, Path keyFile, Optional<RouterSettings.SslMode> backendSslMode,
                             Path backendRootCert) {
    /** The statement router's TLS toward the nodes: as configured, else libpq's and pgjdbc's default, prefer. */
    public RouterSettings.SslMode proxyBackendSslMode() {
        return backendSslMode.orElse(RouterSettings.SslMode.PREFER);
    }

    /**
     * The pgjdbc properties giving metako's own connections to the nodes (probes, the controller's promotions and
     * re-pointing) the configured TLS (pgjdbc's {@code sslmode} has the same values); none when backend_sslmode is
     * not set, so that those connections keep pgjdbc's default (prefer), as before the key existed.
     */
    public Map<String, String> jdbcProperties() {
        Map<String, String> m = new LinkedHashMap<>();
        backendSslMode.ifPresent(mode -> m.put("sslmode", mode.setting()));
        if (backendRootCert != null) {
            m.put("sslrootcert", backendRootCert.toString());
        }
        return m;
    }
}

package io.metako.server.health;

import io.metako.server.config.Secret;

/**
 * Where and as whom to probe a node: address from the replicated state, login from the local config.
 *
 * @param jdbcTls pgjdbc's TLS properties: {@code security.backend_sslmode}, and its root certificate when set
 */
record ProbeTarget(String name, String host, int port, String database, String username, Secret password,
                   java.util.Map<String, String> jdbcTls) {
}

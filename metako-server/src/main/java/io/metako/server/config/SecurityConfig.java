package io.metako.server.config;

import java.nio.file.Path;

/** TLS for the proxy and the admin API. */
public record SecurityConfig(boolean tlsEnabled, Path certFile, Path keyFile) {
}

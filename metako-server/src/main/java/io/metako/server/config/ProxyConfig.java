package io.metako.server.config;

/** Where this instance's PostgreSQL-protocol proxy listens. */
public record ProxyConfig(String listenHost, int port) {
    public static final int DEFAULT_PORT = 6432;
}

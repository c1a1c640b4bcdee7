package io.metako.server.config;

import java.time.Duration;

/** How reads are spread over replicas. */
public record LoadBalancerConfig(
        Algorithm algorithm,
        Duration readTimeout,
        Duration writeTimeout,
        long maxReplicaLagBytes) {

    public static final long DEFAULT_MAX_REPLICA_LAG_BYTES = 16L << 20;

    /** {@code least_connected} (the seed's spelling) and {@code least_connections} both mean LEAST_CONNECTIONS. */
    public enum Algorithm {
        ROUND_ROBIN("round_robin"), LEAST_CONNECTIONS("least_connections");

        private final String configName;

        Algorithm(String configName) {
            this.configName = configName;
        }

        public String configName() {
            return configName;
        }
    }
}

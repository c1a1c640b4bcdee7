package io.metako.server.demo;

import io.metako.server.pg.LocalPostgres;

/**
 * {@code endpoints.json}: where a demo's instances and nodes listen, for scripts and tests.
 * The {@code dsn} is a libpq connection string to that instance's proxy.
 */
final class DemoEndpoints {
    private DemoEndpoints() {
    }

    static String json(LocalCluster c) {
        StringBuilder sb = new StringBuilder("{\n  \"cluster_name\": \"demo\",\n");
        sb.append("  \"token_file\": ").append(q(c.dir().resolve("token").toString())).append(",\n");
        if (c.caCert() != null) {
            sb.append("  \"ca_file\": ").append(q(c.caCert().toString())).append(",\n");
        }
        sb.append("  \"instances\": [\n");
        for (int i = 0; i < c.instances().size(); i++) {
            LocalCluster.InstanceSpec s = c.instances().get(i);
            String h = LocalCluster.HOST;
            sb.append("    {\"id\": ").append(q(s.id()))
                    .append(", \"grpc\": ").append(q(h + ":" + s.grpcPort()))
                    .append(", \"http\": ").append(q(h + ":" + s.httpPort()))
                    .append(", \"proxy\": ").append(q(h + ":" + s.proxyPort()))
                    .append(", \"rw\": ").append(q(h + ":" + s.rwPort()))
                    .append(", \"ro\": ").append(q(h + ":" + s.roPort()))
                    .append(", \"dsn\": ").append(q(routerDsn(c, s)))
                    .append('}').append(i + 1 < c.instances().size() ? ",\n" : "\n");
        }
        sb.append("  ],\n  \"nodes\": [\n");
        for (int i = 0; i < c.nodes().size(); i++) {
            LocalPostgres n = c.nodes().get(i);
            sb.append("    {\"name\": ").append(q(n.name())).append(", \"host\": ").append(q(n.host()))
                    .append(", \"port\": ").append(n.port()).append(", \"data_dir\": ").append(q(n.dataDir().toString()))
                    .append('}').append(i + 1 < c.nodes().size() ? ",\n" : "\n");
        }
        return sb.append("  ]\n}\n").toString();
    }

    /** A libpq connection string to {@code s}'s statement router; TLS verified against the cluster CA when it is on. */
    static String routerDsn(LocalCluster c, LocalCluster.InstanceSpec s) {
        String dsn = "host=" + LocalCluster.HOST + " port=" + s.proxyPort() + " dbname=postgres user="
                + LocalCluster.PROXY_USER + " passfile=" + io.metako.server.pg.Conninfo.value(c.passfile().toString());
        return c.caCert() == null ? dsn : dsn + " sslmode=verify-full sslrootcert=" + io.metako.server.pg.Conninfo.value(c.caCert().toString());
    }

    private static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}

package io.metako.server.demo;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.GetStatusRequest;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.MetakoAdminGrpc;
import io.metako.server.pg.LocalPostgres;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** One demo run: what it started, so that {@link #stop()} can take all of it down again. */
final class DemoRun {
    private static final long READY_TIMEOUT_MILLIS = 120_000;
    /** Written once the demo is ready: a folder without it holds a first start that did not finish. */
    static final String ENDPOINTS = "endpoints.json";

    private final Path dir;
    private final PrintWriter out;
    private final String healthInterval;
    private final boolean tls;
    private final List<Process> instances = new ArrayList<>();
    private LocalCluster cluster;
    private int step;
    private boolean stopped;

    /** Whether {@link #dir} holds a demo stopped earlier, to start again as it was. */
    private final boolean resume;

    DemoRun(Path dir, PrintWriter out, String healthInterval, boolean tls, boolean resume) {
        this.dir = dir;
        this.out = out;
        this.healthInterval = healthInterval;
        this.tls = tls;
        this.resume = resume;
    }

    void start() throws Exception {
        List<Path> configs;
        if (resume) {
            // the nodes as they were left (after a failover the primary is another), the Raft state, the ports, the
            // secrets and the certificates of the first start; the settings are the replicated ones
            progress("resuming the demo stopped in " + dir);
            cluster = LocalCluster.reopen(dir, this::progress);
            configs = cluster.startExistingNodes();
        } else {
            progress("preparing " + dir);
            cluster = LocalCluster.plan(dir, 3, 3, this::progress, true);
            if (tls) {
                cluster.useTls();
            }
            cluster.startPostgres();
            configs = cluster.writeConfigs(healthInterval);
        }
        for (int i = 0; i < configs.size(); i++) {
            LocalCluster.InstanceSpec spec = cluster.instances().get(i);
            progress("starting " + spec.id() + " (raft :" + spec.raftPort() + ", admin API " + spec.grpc() + ")");
            instances.add(launch(configs.get(i), dir.resolve(spec.id() + ".log")));
        }
        progress("waiting for the quorum to elect a leader, seed the cluster and see every node healthy");
        ClusterStatus status = awaitReady();
        Path endpoints = dir.resolve(ENDPOINTS);
        Files.writeString(endpoints, DemoEndpoints.json(cluster));
        printSummary(status, endpoints);
    }

    private Process launch(Path config, Path log) throws IOException {
        return InstanceLauncher.launch(config, log, List.of());
    }

    private ClusterStatus awaitReady() throws InterruptedException {
        long deadline = System.currentTimeMillis() + READY_TIMEOUT_MILLIS;
        Metadata auth = new Metadata();
        auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + cluster.token());
        List<ManagedChannel> channels = new ArrayList<>();
        for (LocalCluster.InstanceSpec i : cluster.instances()) {
            NettyChannelBuilder b = NettyChannelBuilder.forTarget(i.grpc());
            if (cluster.caCert() == null) {
                b.usePlaintext();
            } else {
                try {
                    b.sslContext(io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts.forClient()
                            .trustManager(cluster.caCert().toFile()).build());
                } catch (javax.net.ssl.SSLException e) {
                    throw new IllegalStateException("cannot trust " + cluster.caCert() + ": " + e.getMessage(), e);
                }
            }
            channels.add(b.build());
        }
        String last = "no answer yet";
        try {
            while (System.currentTimeMillis() < deadline) {
                for (Process p : instances) {
                    if (!p.isAlive()) {
                        throw new IllegalStateException("an instance exited with code " + p.exitValue() + "; see the logs in " + dir);
                    }
                }
                List<ClusterStatus> all = new ArrayList<>();
                for (ManagedChannel ch : channels) {
                    try {
                        all.add(MetakoAdminGrpc.newBlockingStub(ch).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth))
                                .withDeadlineAfter(2, TimeUnit.SECONDS).getStatus(GetStatusRequest.getDefaultInstance()));
                    } catch (RuntimeException e) {
                        last = e.getMessage();
                    }
                }
                if (all.size() == channels.size() && agree(all)) {
                    return all.get(0);
                }
                if (!all.isEmpty()) {
                    last = all.get(0).getControllerSentence();
                }
                Thread.sleep(300);
            }
            throw new IllegalStateException("the cluster was not ready within " + READY_TIMEOUT_MILLIS / 1000 + "s (last: "
                    + last + "); see the logs in " + dir);
        } finally {
            channels.forEach(ManagedChannel::shutdownNow);
        }
    }

    private static boolean agree(List<ClusterStatus> all) {
        ClusterStatus first = all.get(0);
        return first.getSeeded() && !first.getLeaderId().isEmpty()
                && all.stream().allMatch(s -> s.getEpoch() == first.getEpoch() && s.getPrimary().equals(first.getPrimary())
                        && s.getLeaderId().equals(first.getLeaderId()))
                && all.stream().allMatch(s -> s.getNodesList().stream().allMatch(n -> n.getHealth() == MajorityHealth.HEALTHY));
    }

    private void printSummary(ClusterStatus s, Path endpoints) {
        out.println();
        out.println("PostgreSQL nodes:");
        for (LocalPostgres n : cluster.nodes()) {
            out.printf("  %-5s %s:%d  %s  data %s%n", n.name(), n.host(), n.port(),
                    n.name().equals(s.getPrimary()) ? "primary" : "replica", n.dataDir());
        }
        out.println("metako instances (Raft leader: " + s.getLeaderId() + ", epoch " + s.getEpoch() + "):");
        for (LocalCluster.InstanceSpec i : cluster.instances()) {
            out.printf("  %-9s admin API %s  raft :%d  proxy :%d  rw :%d  ro :%d  http :%d  log %s%n", i.id(), i.grpc(),
                    i.raftPort(), i.proxyPort(), i.rwPort(), i.roPort(), i.httpPort(), dir.resolve(i.id() + ".log"));
        }
        LocalPostgres primary = cluster.nodes().stream().filter(n -> n.name().equals(s.getPrimary())).findFirst()
                .orElse(cluster.nodes().get(0));
        String endpointsList = String.join(",", cluster.instances().stream().map(LocalCluster.InstanceSpec::grpc).toList());
        out.println();
        LocalCluster.InstanceSpec first = cluster.instances().get(0);
        out.println("Connect through metako (password in " + cluster.passfile() + "). The statement router sends reads to");
        out.println("a replica and writes to the primary, on every instance, before and after a failover"
                + (cluster.caCert() != null ? " (over TLS:\nsslrootcert names the cluster CA, so sslmode=verify-full checks the proxy's certificate):" : ":"));
        out.println("  psql \"" + DemoEndpoints.routerDsn(cluster, first) + "\"");
        out.println("or plain forwarding: the rw port to the current primary, the ro port to a replica:");
        out.println("  psql \"host=" + LocalCluster.HOST + " port=" + first.rwPort() + " dbname=postgres user=postgres passfile="
                + io.metako.server.pg.Conninfo.value(cluster.passfile().toString()) + "\"");
        out.println("  psql \"host=" + LocalCluster.HOST + " port=" + first.roPort() + " dbname=postgres user=postgres passfile="
                + io.metako.server.pg.Conninfo.value(cluster.passfile().toString()) + "\"");
        out.println("or the primary directly:");
        out.println("  psql \"host=" + primary.host() + " port=" + primary.port() + " dbname=postgres user=postgres passfile="
                + io.metako.server.pg.Conninfo.value(cluster.passfile().toString()) + "\"");
        out.println("Ask the quorum:");
        out.println("  export METAKO_ENDPOINTS=" + endpointsList);
        out.println("  export METAKO_TOKEN=$(cat " + dir.resolve("token") + ")");
        if (cluster.caCert() != null) {
            out.println("  export METAKO_CACERT=" + cluster.caCert() + "   # the admin API and the Raft links run over TLS");
        }
        out.println("  bin/metakoctl status");
        out.println("  bin/metakoctl watch      # then, in another shell, stop a node and see the verdicts change:");
        out.println("  runuser -u postgres -- " + "pg_ctl -D " + cluster.nodes().get(2).dataDir() + " stop -m immediate");
        out.println("The live status page (what every instance sees, updated as it changes):");
        out.println("  http://" + LocalCluster.HOST + ":" + first.httpPort() + "/");
        out.println("Health checks for load balancers (200 where writes / reads through that instance are routed; docs/http.md):");
        out.println("  curl -s http://" + LocalCluster.HOST + ":" + first.httpPort() + "/primary   # also /replica, /health,"
                + " /leader, /cluster, /history");
        out.println("Addresses for scripts: " + endpoints);
        out.println();
        out.println("pg-metako demo is ready (Ctrl-C stops it; metako demo --dir " + dir + " starts it again, data kept)");
        out.flush();
    }

    private void progress(String what) {
        step++;
        out.println("[" + step + "] " + what + " ...");
        out.flush();
    }

    /** Stops the instances, then PostgreSQL; safe to call twice. */
    synchronized void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        out.println("stopping the demo ...");
        out.flush();
        for (Process p : instances) {
            p.destroy();
        }
        for (Process p : instances) {
            try {
                if (!p.waitFor(15, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
            }
        }
        if (cluster != null) {
            cluster.close();
        }
        out.println("demo stopped; its files stay in " + dir);
        out.flush();
    }
}

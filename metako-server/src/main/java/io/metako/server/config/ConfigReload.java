package io.metako.server.config;

import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What a reload of an instance's file ({@code SIGHUP}, {@code metakoctl reload}) does to the running instance. Pure.
 * Applied without a restart: the admin and read tokens, the proxy's users and {@code client_auth}, the nodes'
 * credentials ({@code username}, {@code password}, {@code database}), {@code replication.passfile} and
 * {@code logging.level}. Any other instance-local key that changed takes effect at the next start, and is listed
 * so. The cluster-wide keys of a file are never applied: they live in the replicated state, and a file that
 * disagrees with it is reported as drift ({@link ConfigDrift}).
 *
 * @param config  what the instance runs on afterwards: the file's live keys over the running rest
 * @param applied the keys whose new values take effect now
 * @param restart the keys that changed in the file but take effect only at the next start
 */
public record ConfigReload(MetakoConfig config, List<String> applied, List<String> restart) {

    public static ConfigReload of(MetakoConfig running, MetakoConfig file) {
        List<String> applied = new ArrayList<>();
        List<String> restart = new ArrayList<>();
        InstanceConfig ri = running.instance();
        InstanceConfig fi = file.instance();
        changed(applied, "instance.auth_token", ri.authToken(), fi.authToken());
        changed(applied, "instance.read_token", ri.readToken(), fi.readToken());
        InstanceConfig instance = new InstanceConfig(ri.id(), ri.raftAddress(), ri.grpcAddress(), ri.httpAddress(),
                ri.storageDir(), fi.authToken(), ri.nodeAddresses(), fi.readToken(), ri.manages());
        restart.addAll(components("instance", ri, new InstanceConfig(fi.id(), fi.raftAddress(), fi.grpcAddress(),
                fi.httpAddress(), fi.storageDir(), ri.authToken(), fi.nodeAddresses(), ri.readToken(), fi.manages())));
        changed(restart, "cluster_name", running.clusterName(), file.clusterName());
        changed(restart, "peers", running.peers(), file.peers());

        ProxyConfig rp = running.proxy();
        ProxyConfig fp = file.proxy();
        changed(applied, "proxy.users", rp.users(), fp.users());
        changed(applied, "proxy.client_auth", rp.clientAuth(), fp.clientAuth());
        ProxyConfig proxy = withAuth(rp, fp.clientAuth(), fp.users());
        restart.addAll(components("proxy", rp, withAuth(fp, rp.clientAuth(), rp.users())));

        for (NodeConfig n : file.nodes()) {
            running.node(n.name()).ifPresent(r -> {
                changed(applied, "nodes." + n.name() + ".username", r.username(), n.username());
                changed(applied, "nodes." + n.name() + ".password", r.password(), n.password());
                changed(applied, "nodes." + n.name() + ".database", r.database(), n.database());
            });
        }
        changed(applied, "replication.passfile", running.replication().passfile(), file.replication().passfile());
        changed(applied, "logging.level", running.logging().level(), file.logging().level());
        changed(restart, "logging.status_interval", running.logging().statusInterval(), file.logging().statusInterval());
        restart.addAll(components("security", running.security(), file.security()));
        restart.addAll(components("http", running.http(), file.http()));

        MetakoConfig next = new MetakoConfig(running.clusterName(), instance, running.peers(), proxy, file.nodes(),
                file.healthCheck(), file.loadBalancer(), file.failover(), file.replication(), running.security(),
                file.rejoin(), running.http(), new LoggingConfig(running.logging().statusInterval(), file.logging().level()));
        return new ConfigReload(next, List.copyOf(applied), List.copyOf(restart));
    }

    private static ProxyConfig withAuth(ProxyConfig p, ProxyConfig.ClientAuth auth, List<ProxyConfig.ProxyUser> users) {
        return new ProxyConfig(p.listenHost(), p.port(), p.rwPort(), p.roPort(), p.maxMessageSize(),
                p.maxClientConnections(), p.startupTimeout(), p.failoverWait(), p.staleReads(), auth, users, p.threads(),
                p.transport(), p.backendIdleMax(), p.backendIdleTimeout(), p.requireTls(), p.maxBufferedBytes(),
                p.maxNewConnectionsPerSecond());
    }

    private static void changed(List<String> out, String key, Object before, Object after) {
        if (!Objects.equals(before, after)) {
            out.add(key);
        }
    }

    /** {@code section.component} for each record component that differs, in snake case as the file spells keys. */
    static List<String> components(String section, Record before, Record after) {
        List<String> out = new ArrayList<>();
        for (RecordComponent c : before.getClass().getRecordComponents()) {
            try {
                if (!Objects.equals(c.getAccessor().invoke(before), c.getAccessor().invoke(after))) {
                    out.add(section + "." + c.getName().replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(java.util.Locale.ROOT));
                }
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }
        return out;
    }
}

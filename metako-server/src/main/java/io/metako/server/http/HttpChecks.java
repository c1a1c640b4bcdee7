package io.metako.server.http;

import io.metako.proto.v1.MemberRole;
import io.metako.proxy.routing.RoutingTable;
import io.metako.server.config.Units;
import io.metako.server.logging.Json;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The answers of the health endpoints, from one view of the instance. Pure: the HTTP server asks, the tests
 * check every row. Names and meanings follow Patroni's REST API where they overlap, so HAProxy and Kubernetes
 * configurations written for Patroni carry over; "this instance" here is a metako instance and its proxy, not a
 * PostgreSQL node: {@code /primary} answers 200 where writes through this instance's proxy would be routed now.
 */
public final class HttpChecks {
    /** The control loop ticks every 200 ms; ten seconds without a tick means it is stuck. */
    public static final long LIVENESS_MILLIS = 10_000;

    /** The health endpoints, by path. */
    public static final List<String> PATHS = List.of("/health", "/leader", "/primary", "/read-write", "/replica",
            "/read-only", "/liveness", "/readiness");

    private HttpChecks() {
    }

    /**
     * What one instance looks like to the health endpoints.
     *
     * @param raftRole            this instance's role in the Raft group
     * @param leaderId            the leader it knows, null when none
     * @param seeded              whether the replicated cluster state exists yet
     * @param routing             its proxy's routing table now
     * @param controlLoopAgeMillis how long ago its control loop last ticked
     */
    public record View(String instanceId, MemberRole raftRole, String leaderId, long term, boolean seeded, long epoch,
                       RoutingTable routing, long controlLoopAgeMillis) {
    }

    /** An answer: status code and JSON body. */
    public record Answer(int status, String body) {
    }

    /** The answer of the health endpoint {@code path}, or empty when {@code path} is none of {@link #PATHS}. */
    public static Optional<Answer> answer(String path, Map<String, List<String>> query, View live) {
        // the lease is asked once: the status code and the body's holds_lease must agree
        RoutingTable t = live.routing();
        View v = new View(live.instanceId(), live.raftRole(), live.leaderId(), live.term(), live.seeded(), live.epoch(),
                new RoutingTable(t.epoch(), t.primary(), t.replicas(), t.writableNow()), live.controlLoopAgeMillis());
        return switch (path) {
            case "/health" -> Optional.of(health(v));
            case "/leader" -> Optional.of(check(v, "/leader", v.raftRole() == MemberRole.LEADER,
                    "this instance is not the Raft leader" + (v.leaderId() == null ? " (none known)" : " (" + v.leaderId() + " is)")));
            case "/primary", "/read-write" -> Optional.of(primary(v, path));
            case "/replica" -> Optional.of(replica(v, path, query, false));
            case "/read-only" -> Optional.of(replica(v, path, query, true));
            case "/liveness" -> Optional.of(check(v, path, v.controlLoopAgeMillis() <= LIVENESS_MILLIS,
                    "the control loop last ran " + v.controlLoopAgeMillis() + " ms ago"));
            case "/readiness" -> Optional.of(readiness(v));
            default -> Optional.empty();
        };
    }

    private static Answer health(View v) {
        String problem = groupProblem(v);
        return check(v, "/health", problem == null, problem);
    }

    /** Why this instance is not part of a working Raft group; null when it is (a leader, or a follower of one). */
    private static String groupProblem(View v) {
        return switch (v.raftRole()) {
            case LEADER -> null;
            case FOLLOWER -> v.leaderId() != null ? null : "this instance knows no Raft leader";
            case CANDIDATE_MEMBER -> "this instance hears from no Raft leader (it is standing for election)";
            default -> "this instance is not in a Raft group yet";
        };
    }

    private static Answer primary(View v, String path) {
        RoutingTable t = v.routing();
        String why = !v.seeded() ? "the cluster state is not seeded yet"
                : t.primary().isEmpty() ? "no primary at epoch " + t.epoch() + " (a failover is in progress)"
                : "this instance does not hold the write lease of epoch " + t.epoch()
                + " (cut off from the Raft leader, or the epoch just changed)";
        return check(v, path, v.seeded() && t.acceptsWrites(), why);
    }

    private static Answer replica(View v, String path, Map<String, List<String>> query, boolean orPrimary) {
        List<String> lags = query.getOrDefault("lag", List.of());
        long maxLag = Long.MAX_VALUE;
        if (!lags.isEmpty()) {
            Long parsed = Units.parseSize(lags.get(lags.size() - 1));
            if (parsed == null) {
                return new Answer(400, Json.object().put("instance", v.instanceId()).put("endpoint", path)
                        .put("error", "lag must be a size in bytes, or with a unit (16kB, 1MB, 1GB), got '"
                                + lags.get(lags.size() - 1) + "'").toString());
            }
            maxLag = parsed;
        }
        RoutingTable t = v.routing();
        long bound = maxLag;
        // what this instance's ro_port would do with a new connection: balanced replicas, only under the lease
        List<RoutingTable.Replica> fit = t.writableNow() ? t.replicas().stream()
                .filter(RoutingTable.Replica::loadBalanced).filter(r -> r.lagBytes() <= bound).toList() : List.of();
        boolean ok = !fit.isEmpty() || (orPrimary && t.acceptsWrites());
        String why = !v.seeded() ? "the cluster state is not seeded yet"
                : !t.writableNow() ? "this instance does not hold the lease of epoch " + t.epoch()
                + ": its proxy serves no reads (it may be cut off from the Raft leader)"
                : t.replicas().isEmpty() ? "no replica is fit for reads (healthy by majority, within max_replica_lag)"
                : "no replica is within lag " + Units.formatSize(maxLag);
        return check(v, path, ok, why);
    }

    private static Answer readiness(View v) {
        RoutingTable t = v.routing();
        String notInGroup = groupProblem(v);
        boolean serves = t.acceptsWrites()
                || (t.writableNow() && t.replicas().stream().anyMatch(RoutingTable.Replica::loadBalanced));
        String why = notInGroup != null ? notInGroup
                : !v.seeded() ? "the cluster state is not seeded yet"
                : "this instance's proxy can route neither writes nor reads now";
        return check(v, "/readiness", notInGroup == null && v.seeded() && serves, why);
    }

    /** 200 with the instance's state when {@code ok}; 503 with the same and {@code why} when not. */
    private static Answer check(View v, String path, boolean ok, String why) {
        RoutingTable t = v.routing();
        Json j = Json.object().put("instance", v.instanceId()).put("endpoint", path).put("ok", ok);
        if (!ok) {
            j.put("reason", why);
        }
        j.put("raft_role", role(v.raftRole())).put("leader", v.leaderId()).put("term", v.term())
                .put("epoch", v.seeded() ? t.epoch() : v.epoch())
                .put("primary", t.primary().map(RoutingTable.Backend::name).orElse(null))
                .put("holds_lease", t.writableNow())
                .putRaw("replicas", t.replicas().stream().map(r -> Json.object().put("name", r.backend().name())
                        .put("lag_bytes", r.lagBytes()).put("lag_seconds", r.lagSeconds())
                        .put("load_balanced", r.loadBalanced()).toString()).toList());
        return new Answer(ok ? 200 : 503, j.toString());
    }

    private static String role(MemberRole r) {
        return switch (r) {
            case LEADER -> "leader";
            case FOLLOWER -> "follower";
            case CANDIDATE_MEMBER -> "candidate";
            default -> "unknown";
        };
    }
}

package io.metako.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.MemberRole;
import io.metako.proxy.routing.RoutingTable;
import io.metako.proxy.routing.RoutingTable.Backend;
import io.metako.proxy.routing.RoutingTable.Replica;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HttpChecksTest {
    private static final Backend PG1 = new Backend("pg-1", "127.0.0.1", 5432);
    private static final Backend PG2 = new Backend("pg-2", "127.0.0.1", 5433);
    private static final Backend PG3 = new Backend("pg-3", "127.0.0.1", 5434);

    /** The situations an instance can be in. */
    private static HttpChecks.View view(String situation) {
        List<Replica> two = List.of(new Replica(PG2, 0, 0, true), new Replica(PG3, 40L << 20, 3.5, true));
        return switch (situation) {
            case "leader-lease" -> v(MemberRole.LEADER, "m1", true, new RoutingTable(2, Optional.of(PG1), two, true), 5);
            case "follower-lease" -> v(MemberRole.FOLLOWER, "m1", true, new RoutingTable(2, Optional.of(PG1), two, true), 5);
            case "follower-nolease" -> v(MemberRole.FOLLOWER, "m1", true, new RoutingTable(2, Optional.of(PG1), two, false), 5);
            case "follower-noleader" -> v(MemberRole.FOLLOWER, null, true, new RoutingTable(2, Optional.of(PG1), two, false), 5);
            case "candidate" -> v(MemberRole.CANDIDATE_MEMBER, null, true, new RoutingTable(2, Optional.of(PG1), two, false), 5);
            case "failover" -> v(MemberRole.LEADER, "m1", true, new RoutingTable(3, Optional.empty(), two, true), 5);
            case "no-replicas" -> v(MemberRole.LEADER, "m1", true, new RoutingTable(2, Optional.of(PG1), List.of(), true), 5);
            case "unbalanced" -> v(MemberRole.LEADER, "m1", true, new RoutingTable(2, Optional.of(PG1),
                    List.of(new Replica(PG2, 0, 0, false)), true), 5);
            case "unseeded" -> v(MemberRole.LEADER, "m1", false, RoutingTable.unknown(), 5);
            case "stuck" -> v(MemberRole.LEADER, "m1", true, new RoutingTable(2, Optional.of(PG1), two, true), 60_000);
            case "starting" -> v(MemberRole.UNKNOWN_ROLE, null, false, RoutingTable.unknown(), 5);
            default -> throw new IllegalArgumentException(situation);
        };
    }

    private static HttpChecks.View v(MemberRole role, String leader, boolean seeded, RoutingTable t, long age) {
        return new HttpChecks.View("m2", role, leader, 4, seeded, t.epoch(), t, age);
    }

    @ParameterizedTest(name = "{0} {1} -> {2}")
    @CsvSource({
            // situation,        path,          status
            "leader-lease,       /health,       200",
            "follower-lease,     /health,       200",
            "follower-noleader,  /health,       503",
            "candidate,          /health,       503",
            "starting,           /health,       503",
            "leader-lease,       /leader,       200",
            "follower-lease,     /leader,       503",
            "leader-lease,       /primary,      200",
            "leader-lease,       /read-write,   200",
            "follower-lease,     /primary,      200",
            "follower-nolease,   /primary,      503",
            "failover,           /primary,      503",
            "unseeded,           /primary,      503",
            "follower-lease,     /replica,      200",
            "follower-nolease,   /replica,      503",
            "no-replicas,        /replica,      503",
            "unbalanced,         /replica,      503",
            "failover,           /replica,      200",
            "follower-lease,     /read-only,    200",
            "no-replicas,        /read-only,    200",
            "follower-nolease,   /read-only,    503",
            "failover,           /read-only,    200",
            "leader-lease,       /liveness,     200",
            "candidate,          /liveness,     200",
            "stuck,              /liveness,     503",
            "leader-lease,       /readiness,    200",
            "no-replicas,        /readiness,    200",
            "failover,           /readiness,    200",
            "follower-nolease,   /readiness,    503",
            "candidate,          /readiness,    503",
            "unseeded,           /readiness,    503",
    })
    void statusCodes(String situation, String path, int status) {
        HttpChecks.Answer a = HttpChecks.answer(path, Map.of(), view(situation)).orElseThrow();
        assertThat(a.status()).as(a.body()).isEqualTo(status);
        assertThat(a.body()).contains("\"endpoint\":\"" + path + "\"").contains("\"ok\":" + (status == 200));
        if (status == 503) {
            assertThat(a.body()).as("a refusal says why").contains("\"reason\":\"");
        }
    }

    @ParameterizedTest(name = "/replica?lag={0} -> {1}")
    @CsvSource({
            "0,        200",  // pg-2 has no lag
            "1MB,      200",
            "16kB,     200",
            "1048576,  200",
    })
    void lagIsInBytesOrWithAUnit(String lag, int status) {
        HttpChecks.Answer a = HttpChecks.answer("/replica", Map.of("lag", List.of(lag)), view("follower-lease")).orElseThrow();
        assertThat(a.status()).isEqualTo(status);
    }

    @ParameterizedTest(name = "/replica?lag={0} on a lagging replica -> {1}")
    @CsvSource({
            "1MB,   503",
            "39MB,  503",
            "40MB,  200",
            "1GB,   200",
    })
    void aReplicaBeyondTheLagDoesNotCount(String lag, int status) {
        RoutingTable t = new RoutingTable(2, Optional.of(PG1), List.of(new Replica(PG3, 40L << 20, 3.5, true)), true);
        HttpChecks.Answer a = HttpChecks.answer("/replica", Map.of("lag", List.of(lag)),
                v(MemberRole.FOLLOWER, "m1", true, t, 5)).orElseThrow();
        assertThat(a.status()).as(a.body()).isEqualTo(status);
    }

    @ParameterizedTest(name = "lag={0}")
    @CsvSource({"lots", "-1", "1.5MB", "99999999999999999999", "''"})
    void aBadLagIsABadRequestThatSaysWhy(String lag) {
        HttpChecks.Answer a = HttpChecks.answer("/replica", Map.of("lag", List.of(lag)), view("follower-lease")).orElseThrow();
        assertThat(a.status()).isEqualTo(400);
        assertThat(a.body()).contains("lag must be a size");
    }

    @org.junit.jupiter.api.Test
    void theBodyCarriesTheInstancesStateAndUnknownPathsAreNoCheck() {
        HttpChecks.Answer a = HttpChecks.answer("/primary", Map.of(), view("follower-lease")).orElseThrow();
        assertThat(a.body()).contains("\"instance\":\"m2\"", "\"raft_role\":\"follower\"", "\"leader\":\"m1\"",
                "\"epoch\":2", "\"primary\":\"pg-1\"", "\"holds_lease\":true", "\"name\":\"pg-3\"",
                "\"lag_bytes\":" + (40L << 20));
        assertThat(HttpChecks.answer("/nothing", Map.of(), view("leader-lease"))).isEmpty();
        assertThat(HttpChecks.answer("/primary", Map.of(), view("failover")).orElseThrow().body())
                .contains("no primary at epoch 3");
    }
}

package io.metako.proxy.route;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proxy.routing.RoutingTable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The router as a table of one-sentence scenarios. */
class RouterTest {
    static final RoutingTable.Backend PG1 = new RoutingTable.Backend("pg-1", "127.0.0.1", 5432);
    static final RoutingTable.Backend PG2 = new RoutingTable.Backend("pg-2", "127.0.0.1", 5433);
    static final RoutingTable.Backend PG3 = new RoutingTable.Backend("pg-3", "127.0.0.1", 5434);
    static final RoutingTable TABLE = new RoutingTable(4, Optional.of(PG1), List.of(
            new RoutingTable.Replica(PG2, 0, 0, true, 1000), new RoutingTable.Replica(PG3, 10, 0.1, true, 990)), true);

    /** Always the first eligible replica, so rows are deterministic. */
    static final ReplicaSelector FIRST = eligible -> eligible.stream().findFirst();

    static Stream<Arguments> table() {
        return Stream.of(
                row("an autocommit read goes to a replica", "SELECT 1", SessionRouting.idle(), t -> t, "Replica[backend=Backend[name=pg-2"),
                row("a write goes to the primary", "UPDATE t SET a = 1", SessionRouting.idle(), t -> t, "Primary[backend=Backend[name=pg-1"),
                row("a hinted read goes to the primary", "/* metako:primary */ SELECT 1", SessionRouting.idle(), t -> t, "Primary["),
                row("SELECT FOR UPDATE goes to the primary", "SELECT * FROM t FOR UPDATE", SessionRouting.idle(), t -> t, "Primary["),
                row("BEGIN starts on the primary", "BEGIN", SessionRouting.idle(), t -> t, "Primary["),
                row("BEGIN READ ONLY may start on a replica", "BEGIN READ ONLY", SessionRouting.idle(), t -> t, "Replica["),
                row("inside a transaction a read stays where the transaction is", "SELECT 1",
                        new SessionRouting(Optional.of(PG1), -1), t -> t, "Transaction[backend=Backend[name=pg-1"),
                row("inside a read-only transaction on a replica a read stays there", "SELECT 2",
                        new SessionRouting(Optional.of(PG3), -1), t -> t, "Transaction[backend=Backend[name=pg-3"),
                row("COMMIT goes where the transaction is", "COMMIT", new SessionRouting(Optional.of(PG1), -1), t -> t, "Transaction["),
                row("a BEGIN inside a transaction stays there (PostgreSQL only warns)", "BEGIN READ ONLY",
                        new SessionRouting(Optional.of(PG1), -1), t -> t, "Transaction[backend=Backend[name=pg-1"),
                row("a SET inside a transaction stays there too", "SET LOCAL work_mem = '64MB'",
                        new SessionRouting(Optional.of(PG1), -1), t -> t, "Transaction[backend=Backend[name=pg-1"),
                row("a SET reaches every backend of the session", "SET search_path = app", SessionRouting.idle(), t -> t, "EverySessionBackend"),
                row("read-your-writes: only a replica that replayed the session's write serves it", "SELECT 1",
                        new SessionRouting(Optional.empty(), 995), t -> new RoutingTable(4, t.primary(), List.of(t.replicas().get(1),
                                t.replicas().get(0)), true), "Replica[backend=Backend[name=pg-2"),
                row("read-your-writes: no replica caught up means the primary", "SELECT 1",
                        new SessionRouting(Optional.empty(), 5000), t -> t, "Primary["),
                row("no replica at all: reads go to the primary", "SELECT 1", SessionRouting.idle(),
                        t -> new RoutingTable(4, t.primary(), List.of(), true), "Primary["),
                row("noloadbalance replicas get no balanced reads", "SELECT 1", SessionRouting.idle(),
                        t -> new RoutingTable(4, t.primary(), List.of(new RoutingTable.Replica(PG2, 0, 0, false, 1000)), true), "Primary["),
                row("during a failover a write waits", "INSERT INTO t VALUES (1)", SessionRouting.idle(),
                        t -> new RoutingTable(5, Optional.empty(), t.replicas(), true), "Wait[reason=no primary at epoch 5"),
                row("during a failover a read still finds a replica", "SELECT 1", SessionRouting.idle(),
                        t -> new RoutingTable(5, Optional.empty(), t.replicas(), true), "Replica["),
                row("no primary and no replica: even a read waits", "SELECT 1", SessionRouting.idle(),
                        t -> new RoutingTable(5, Optional.empty(), List.of(), true), "Wait[reason=no primary and no readable replica"),
                row("without the lease a write fails closed", "DELETE FROM t", SessionRouting.idle(),
                        t -> new RoutingTable(4, t.primary(), t.replicas(), false), "Wait[reason=this instance holds no write lease"),
                row("without the lease and without stale reads a read waits too", "SELECT 1", SessionRouting.idle(),
                        t -> new RoutingTable(4, t.primary(), t.replicas(), false), "Wait[reason=this instance holds no lease and proxy.stale_reads is off"),
                row("without the lease a statement inside a transaction on the primary waits too", "UPDATE t SET a = 2",
                        new SessionRouting(Optional.of(PG1), -1), t -> new RoutingTable(4, t.primary(), t.replicas(), false),
                        "Wait[reason=this instance holds no write lease for the transaction's node pg-1"),
                row("a lease that ran out after the table was made counts, not the table's flag", "COMMIT",
                        new SessionRouting(Optional.of(PG1), -1), t -> new RoutingTable(4, t.primary(), t.replicas(), true,
                                io.metako.proxy.routing.WriteLease.create()), "Wait[reason=this instance holds no write lease"),
                row("a transaction on a replica needs no write lease", "SELECT 2", new SessionRouting(Optional.of(PG3), -1),
                        t -> new RoutingTable(4, t.primary(), t.replicas(), false), "Transaction[backend=Backend[name=pg-3"),
                row("a multi-statement string with a write goes to the primary", "SELECT 1; DELETE FROM t", SessionRouting.idle(), t -> t, "Primary["),
                row("COPY TO STDOUT is a read", "COPY t TO STDOUT", SessionRouting.idle(), t -> t, "Replica["),
                row("LISTEN needs the primary", "LISTEN ch", SessionRouting.idle(), t -> t, "Primary["),
                row("a closed table (the instance left the group) refuses at once, inside a transaction too", "COMMIT",
                        new SessionRouting(Optional.of(PG1), -1), t -> RoutingTable.closed("removed"),
                        "Wait[reason=removed, sqlState=57P03, now=true]"));
    }

    private static Arguments row(String scenario, String sql, SessionRouting session, UnaryOperator<RoutingTable> t, String expected) {
        return Arguments.of(scenario, sql, session, t, expected);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("table")
    void routes(String scenario, String sql, SessionRouting session, UnaryOperator<RoutingTable> t, String expected) {
        RouteTarget target = Router.route(StatementClassifier.classify(sql), session, t.apply(TABLE), FIRST, false);
        assertThat(target.toString()).contains(expected);
    }

    @Test
    void staleReadsMayBeAllowedWithoutTheLease() {
        RoutingTable noLease = new RoutingTable(4, Optional.of(PG1), TABLE.replicas(), false);
        assertThat(Router.route(StatementClassifier.classify("SELECT 1"), SessionRouting.idle(), noLease, FIRST, true))
                .isInstanceOf(RouteTarget.Replica.class);
        assertThat(Router.route(StatementClassifier.classify("UPDATE t SET a = 1"), SessionRouting.idle(), noLease, FIRST, true))
                .isInstanceOf(RouteTarget.Wait.class);
    }

    @Test
    void roundRobinSpreadsEvenly() {
        ReplicaSelector rr = ReplicaSelector.roundRobin();
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 1000; i++) {
            RouteTarget t = Router.route(StatementClassifier.classify("SELECT 1"), SessionRouting.idle(), TABLE, rr, false);
            counts.merge(((RouteTarget.Replica) t).backend().name(), 1, Integer::sum);
        }
        assertThat(counts).containsEntry("pg-2", 500).containsEntry("pg-3", 500);
    }

    @Test
    void leastConnectionsPrefersTheIdleReplica() {
        Map<String, Integer> active = new HashMap<>(Map.of("pg-2", 5, "pg-3", 1));
        ReplicaSelector lc = ReplicaSelector.leastConnections(name -> active.getOrDefault(name, 0));
        List<String> picks = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            RouteTarget t = Router.route(StatementClassifier.classify("SELECT 1"), SessionRouting.idle(), TABLE, lc, false);
            String name = ((RouteTarget.Replica) t).backend().name();
            picks.add(name);
            active.merge(name, 1, Integer::sum); // the chosen replica gets one more session
        }
        assertThat(picks).containsExactly("pg-3", "pg-3", "pg-3", "pg-3", "pg-2", "pg-3");
    }
}

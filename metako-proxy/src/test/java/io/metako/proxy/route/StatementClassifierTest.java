package io.metako.proxy.route;

import static io.metako.proxy.route.StatementKind.BEGIN;
import static io.metako.proxy.route.StatementKind.BEGIN_READ_ONLY;
import static io.metako.proxy.route.StatementKind.END_TRANSACTION;
import static io.metako.proxy.route.StatementKind.READ;
import static io.metako.proxy.route.StatementKind.SESSION;
import static io.metako.proxy.route.StatementKind.WRITE;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The statement classifier as a table: SQL text in, routing kind out. */
class StatementClassifierTest {
    static Stream<Arguments> table() {
        return Stream.of(
                // plain reads
                row("SELECT 1", READ),
                // keywords in any ASCII case (shared tokens); a look-alike letter is no keyword
                row("SeLeCt * FrOm t WhErE x = 1", READ),
                row("sElEcT * FROM t fOr UpDaTe", WRITE),
                row("WITH x AS (DeLeTe FROM t RETURNING *) SELECT * FROM x", WRITE),
                row("\u017Felect 1", WRITE),
                row("select * from accounts where id = $1", READ),
                row("  SELECT count(*) FROM t  ", READ),
                row("SELECT a, b FROM t ORDER BY a LIMIT 10 OFFSET 5", READ),
                row("SELECT * FROM t1 JOIN t2 USING (id)", READ),
                row("SELECT now(), current_user, version()", READ),
                row("SELECT pg_is_in_recovery()", READ),
                row("SELECT pg_sleep(0.1)", READ),
                row("(SELECT 1) UNION ALL (SELECT 2)", READ),
                row("SELECT 1 UNION SELECT 2 EXCEPT SELECT 3", READ),
                row("VALUES (1, 'a'), (2, 'b')", READ),
                row("TABLE accounts", READ),
                row("SHOW search_path", READ),
                row("show all", READ),
                row("SELECT id FROM t WHERE note = 'please update me'", READ),
                row("SELECT 'insert into x values (1)'", READ),
                row("SELECT $$delete from t$$", READ),
                row("SELECT $body$ update t set a = 1 $body$ AS txt", READ),
                row("SELECT E'it\\'s an update'", READ),
                row("SELECT 'it''s for update'", READ),
                row("SELECT \"update\" FROM t", READ),
                row("SELECT \"for\" , \"share\" FROM t", READ),
                row("SELECT * FROM t -- for update\n", READ),
                row("SELECT * FROM t /* delete */", READ),
                row("SELECT /* nested /* comment */ insert */ 1", READ),
                row("SELECT $1::int + $2", READ),
                row("SELECT x FROM generate_series(1, 10) x", READ),
                row("SELECT count(*) FILTER (WHERE a > 1) FROM t", READ),
                row("SELECT * FROM t WINDOW w AS (PARTITION BY a)", READ),
                row("SELECT lag(a) OVER (ORDER BY b) FROM t", READ),
                // read-only WITH
                row("WITH x AS (SELECT 1) SELECT * FROM x", READ),
                row("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", READ),
                // EXPLAIN
                row("EXPLAIN SELECT * FROM t", READ),
                row("EXPLAIN DELETE FROM t", READ),
                row("EXPLAIN ANALYZE SELECT * FROM t", READ),
                row("EXPLAIN ANALYZE DELETE FROM t", WRITE),
                row("EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1", WRITE),
                row("EXPLAIN (ANALYZE false) UPDATE t SET a = 1", READ),
                row("EXPLAIN (FORMAT JSON) INSERT INTO t VALUES (1)", READ),
                row("explain verbose select 1", READ),
                row("EXPLAIN ANALYSE INSERT INTO t VALUES (1)", WRITE),
                // locking and writing selects
                row("SELECT * FROM t FOR UPDATE", WRITE),
                row("SELECT * FROM t WHERE id = 1 FOR NO KEY UPDATE", WRITE),
                row("SELECT * FROM t FOR SHARE", WRITE),
                row("SELECT * FROM t FOR KEY SHARE SKIP LOCKED", WRITE),
                row("select * from t for update nowait", WRITE),
                row("SELECT nextval('seq')", WRITE),
                row("SELECT setval('seq', 10)", WRITE),
                row("SELECT pg_advisory_lock(42)", WRITE),
                row("SELECT pg_try_advisory_xact_lock(1, 2)", WRITE),
                row("SELECT pg_notify('ch', 'x')", WRITE),
                row("SELECT set_config('work_mem', '64MB', false)", WRITE),
                row("SELECT txid_current()", WRITE),
                row("SELECT * INTO new_table FROM t", WRITE),
                row("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", WRITE),
                row("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", WRITE),
                row("WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT count(*) FROM u", WRITE),
                // DML and DDL
                row("INSERT INTO t VALUES (1)", WRITE),
                row("insert into t (a) select a from s returning id", WRITE),
                row("UPDATE t SET a = a + 1 WHERE id = $1", WRITE),
                row("DELETE FROM t", WRITE),
                row("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a", WRITE),
                row("CREATE TABLE t (id int)", WRITE),
                row("ALTER TABLE t ADD COLUMN b int", WRITE),
                row("DROP TABLE IF EXISTS t", WRITE),
                row("TRUNCATE t", WRITE),
                row("CREATE INDEX CONCURRENTLY i ON t (a)", WRITE),
                row("GRANT SELECT ON t TO app", WRITE),
                row("VACUUM ANALYZE t", WRITE),
                row("ANALYZE t", WRITE),
                row("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", WRITE),
                row("CALL do_things()", WRITE),
                row("DO $$ BEGIN PERFORM 1; END $$", WRITE),
                row("LISTEN channel", WRITE),
                row("NOTIFY channel, 'payload'", WRITE),
                row("UNLISTEN *", WRITE),
                row("PREPARE p AS SELECT 1", WRITE),
                row("EXECUTE p", WRITE),
                row("DEALLOCATE ALL", WRITE),
                row("REFRESH MATERIALIZED VIEW mv", WRITE),
                row("CHECKPOINT", WRITE),
                // COPY
                row("COPY t TO STDOUT", READ),
                row("COPY t (a, b) TO STDOUT WITH (FORMAT csv)", READ),
                row("COPY (SELECT * FROM t WHERE a > 1) TO STDOUT", READ),
                row("COPY (SELECT nextval('s')) TO STDOUT", WRITE),
                row("COPY t FROM STDIN", WRITE),
                row("copy t (a) from stdin with (format csv)", WRITE),
                // transactions
                row("BEGIN", BEGIN),
                row("begin transaction isolation level serializable", BEGIN),
                row("START TRANSACTION", BEGIN),
                row("BEGIN READ ONLY", BEGIN_READ_ONLY),
                row("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", BEGIN_READ_ONLY),
                row("BEGIN READ WRITE", BEGIN),
                row("COMMIT", END_TRANSACTION),
                row("END", END_TRANSACTION),
                row("ROLLBACK", END_TRANSACTION),
                row("ABORT", END_TRANSACTION),
                row("ROLLBACK TO SAVEPOINT s1", WRITE),
                row("SAVEPOINT s1", WRITE),
                row("COMMIT PREPARED 'x'", WRITE),
                // session state
                row("SET search_path TO app, public", SESSION),
                row("SET SESSION statement_timeout = '5s'", SESSION),
                row("set application_name = 'x'", SESSION),
                row("RESET ALL", SESSION),
                row("RESET work_mem", SESSION),
                row("DISCARD ALL", SESSION),
                row("SET LOCAL work_mem = '1MB'", WRITE),
                row("SET TRANSACTION READ ONLY", WRITE),
                row("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", SESSION),
                // multi-statement strings
                row("SELECT 1; SELECT 2", READ),
                row("SELECT 1; INSERT INTO t VALUES (1)", WRITE),
                row("SET a = 1; SET b = 2", SESSION),
                row("BEGIN; SELECT 1; COMMIT", WRITE),
                row("SELECT ';'; SELECT 2", READ),
                row("SELECT 1;;", READ),
                // oddities
                row("", READ),
                row("   ", READ),
                row("-- only a comment", READ),
                row("123", WRITE),
                row("(", WRITE),
                row("SELECT 'unterminated", READ));
    }

    private static Arguments row(String sql, StatementKind kind) {
        return Arguments.of(sql, kind);
    }

    @ParameterizedTest(name = "[{index}] {0} -> {1}")
    @MethodSource("table")
    void classifies(String sql, StatementKind expected) {
        assertThat(StatementClassifier.classify(sql).kind()).isEqualTo(expected);
    }

    @Test
    void tableHasAtLeastEightyRows() {
        assertThat(table().count()).isGreaterThanOrEqualTo(80);
    }

    @Test
    void aPrimaryHintForcesThePrimaryForAnyRead() {
        Classification c = StatementClassifier.classify("/* metako:primary */ SELECT * FROM t");
        assertThat(c.kind()).isEqualTo(READ);
        assertThat(c.forcePrimary()).isTrue();
        assertThat(c.replicaEligible()).isFalse();
        assertThat(StatementClassifier.classify("SELECT 1 -- metako:primary").forcePrimary()).isTrue();
        assertThat(StatementClassifier.classify("SELECT 'metako:primary'").forcePrimary()).isFalse();
        assertThat(StatementClassifier.classify("/* metako: primary */ SELECT 1").forcePrimary()).isTrue();
        assertThat(StatementClassifier.classify("/* METAKO : Primary */ SELECT 1").forcePrimary()).isTrue();
        assertThat(StatementClassifier.classify("/* metako primary */ SELECT 1").forcePrimary()).isFalse();
        assertThat(StatementClassifier.classify("/* see metako :\tprimary */ SELECT 1").forcePrimary()).isTrue();
        assertThat(StatementClassifier.classify("/* metako:prim */ SELECT 1").forcePrimary()).isFalse();
        assertThat(StatementClassifier.classify("/* metako: */ SELECT 1 /* primary */").forcePrimary()).isFalse();
        assertThat(StatementClassifier.classify("SELECT 1").replicaEligible()).isTrue();
    }

    @Test
    void numbersAreConstantsWhateverTheirDigits() {
        assertThat(StatementClassifier.classify("SELECT abalance FROM pgbench_accounts WHERE aid = 12345").kind()).isEqualTo(READ);
        assertThat(StatementClassifier.classify("SELECT 3.14, 1e10, $1::int, 10 FROM t LIMIT 5").kind()).isEqualTo(READ);
        assertThat(StatementClassifier.classify("SELECT 2 FOR UPDATE").kind()).isEqualTo(WRITE);
        assertThat(StatementClassifier.classify("UPDATE t SET x = 1.5 WHERE id = 2").kind()).isEqualTo(WRITE);
        assertThat(StatementClassifier.classify("SELECT 1; SELECT 22").statements()).isEqualTo(2);
    }

    @Test
    void multiStatementStringsCountTheirStatements() {
        assertThat(StatementClassifier.classify("SELECT 1; SELECT 2; SELECT 3").statements()).isEqualTo(3);
        assertThat(StatementClassifier.classify("SELECT ';'").statements()).isEqualTo(1);
    }

    @Test
    void sessionStatementsOfAMixedStringAreFoundWithTheirText() {
        assertThat(StatementClassifier.sessionStatements(
                "SET search_path = app, public; INSERT INTO t VALUES (';'); /* c */ RESET work_mem ;SELECT 1"))
                .containsExactly("SET search_path = app, public", "RESET work_mem");
        assertThat(StatementClassifier.sessionStatements("SELECT 1; SET LOCAL work_mem = '1MB'; DISCARD ALL"))
                .as("SET LOCAL ends with its transaction; DISCARD ALL is session state")
                .containsExactly("DISCARD ALL");
        assertThat(StatementClassifier.sessionStatements("SELECT $$;SET x = 1;$$")).isEmpty();
        assertThat(StatementClassifier.sessionStatements("set application_name = 'a;b'")).containsExactly("set application_name = 'a;b'");
    }

    @Test
    void aUnitThatOpensATransactionAndLeavesItOpenIsThatBegin() {
        assertThat(StatementClassifier.classify("BEGIN READ ONLY; SELECT 1").kind())
                .as("as the extended protocol classifies the same statements").isEqualTo(BEGIN_READ_ONLY);
        assertThat(StatementClassifier.classify("BEGIN READ ONLY; SELECT 1").replicaEligible()).isTrue();
        assertThat(StatementClassifier.classify("/* metako:primary */ BEGIN READ ONLY; SELECT 1").replicaEligible()).isFalse();
        assertThat(StatementClassifier.classify("BEGIN; INSERT INTO t VALUES (1)").kind())
                .as("nothing is committed until the transaction ends: it may run again").isEqualTo(BEGIN);
        assertThat(StatementClassifier.classify("BEGIN; INSERT INTO t VALUES (1); COMMIT").kind()).isEqualTo(WRITE);
        assertThat(StatementClassifier.classify("BEGIN READ ONLY; SELECT 1; COMMIT").kind())
                .as("a unit that also ends its transaction is judged by what it runs").isEqualTo(WRITE);
        assertThat(StatementClassifier.unitKind(List.of(BEGIN, READ, END_TRANSACTION))).isEqualTo(WRITE);
        assertThat(StatementClassifier.unitKind(List.of(SESSION, READ))).isEqualTo(WRITE);
        assertThat(StatementClassifier.unitKind(List.of(END_TRANSACTION))).isEqualTo(END_TRANSACTION);
    }

    @Test
    void deallocateNamesTheStatementAsPostgresResolvesIt() {
        assertThat(StatementClassifier.deallocation("DEALLOCATE s1"))
                .contains(new StatementClassifier.Deallocation("s1", false));
        assertThat(StatementClassifier.deallocation("deallocate prepare S_1;"))
                .as("an unquoted name folds to lower case").contains(new StatementClassifier.Deallocation("s_1", false));
        assertThat(StatementClassifier.deallocation("DEALLOCATE \"S \"\"1\"\"\""))
                .contains(new StatementClassifier.Deallocation("S \"1\"", false));
        assertThat(StatementClassifier.deallocation("/* c */ DEALLOCATE ALL"))
                .contains(new StatementClassifier.Deallocation("", true));
        assertThat(StatementClassifier.deallocation("DEALLOCATE PREPARE ALL")).contains(new StatementClassifier.Deallocation("", true));
        assertThat(StatementClassifier.deallocation("DEALLOCATE a; DEALLOCATE b")).isEmpty();
        assertThat(StatementClassifier.deallocation("DEALLOCATE")).isEmpty();
        assertThat(StatementClassifier.deallocation("SELECT 'DEALLOCATE s1'")).isEmpty();
        assertThat(StatementClassifier.deallocation("")).isEmpty();
    }
}

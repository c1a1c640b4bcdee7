package io.metako.proxy.route;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Classifies SQL for routing, as a pure function of the text. Conservative: anything it cannot
 * prove to be a read is a write, so a mistake costs a trip to the primary, never a write sent to
 * a replica. A string of several statements is a read only if every statement is one.
 */
public final class StatementClassifier {
    /** Functions that write, take locks or change session state, so they need the primary. */
    private static final Set<String> WRITING_FUNCTIONS = Set.of(
            "nextval", "setval", "currval", "lastval", "pg_advisory_lock", "pg_advisory_lock_shared",
            "pg_advisory_unlock", "pg_advisory_unlock_shared", "pg_advisory_unlock_all", "pg_advisory_xact_lock",
            "pg_advisory_xact_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared",
            "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared", "pg_notify", "set_config",
            "txid_current", "pg_current_xact_id", "lo_create", "lo_import", "lo_unlink", "lo_from_bytea", "lo_put",
            "pg_switch_wal", "pg_create_restore_point", "pg_create_physical_replication_slot",
            "pg_create_logical_replication_slot", "pg_drop_replication_slot", "pg_reload_conf", "pg_terminate_backend",
            "pg_cancel_backend", "pg_promote", "dblink_exec");
    private static final Set<String> DML = Set.of("insert", "update", "delete", "merge");
    private static final Set<String> LOCK_STRENGTHS = Set.of("update", "share", "no", "key");

    private StatementClassifier() {
    }

    public static Classification classify(String sql) {
        SqlLexer.Result lexed = SqlLexer.lex(sql);
        List<List<SqlLexer.Token>> statements = lexed.statements();
        if (statements.isEmpty()) {
            return new Classification(StatementKind.READ, lexed.primaryHint(), 0);
        }
        if (statements.size() == 1) {
            return new Classification(kindOf(statements.get(0)), lexed.primaryHint(), 1);
        }
        List<StatementKind> kinds = new ArrayList<>(statements.size());
        statements.forEach(s -> kinds.add(kindOf(s)));
        return new Classification(unitKind(kinds), lexed.primaryHint(), statements.size());
    }

    /**
     * What several statements that run as one unit (a multi-statement Query, or the Parse/Bind/Execute
     * messages up to a Sync) mean together: the one rule for the simple and the extended protocol.
     * <ul>
     * <li>all reads: a read; all session settings: session state;</li>
     * <li>a unit that opens a transaction and leaves it open (BEGIN first, no COMMIT / ROLLBACK after it)
     * is that BEGIN: whatever it did is undone if its backend dies, so it may run again elsewhere, and a
     * read-only one may run on a replica (PostgreSQL refuses a write inside it wherever it runs);</li>
     * <li>anything else, a unit that also ends its transaction included, is a write.</li>
     * </ul>
     */
    public static StatementKind unitKind(List<StatementKind> kinds) {
        if (kinds.size() == 1) {
            return kinds.get(0);
        }
        if (kinds.stream().allMatch(k -> k == StatementKind.READ)) {
            return StatementKind.READ;
        }
        if (kinds.stream().allMatch(k -> k == StatementKind.SESSION)) {
            return StatementKind.SESSION;
        }
        StatementKind first = kinds.get(0);
        boolean opens = first == StatementKind.BEGIN || first == StatementKind.BEGIN_READ_ONLY;
        if (opens && kinds.stream().noneMatch(k -> k == StatementKind.END_TRANSACTION)) {
            return first;
        }
        return StatementKind.WRITE;
    }

    /** What a {@code DEALLOCATE} drops: one prepared statement by its name, or all of them. */
    public record Deallocation(String name, boolean all) {
    }

    /**
     * The prepared statement(s) {@code sql} deallocates when it is a single {@code DEALLOCATE [PREPARE]
     * name | ALL}, the name as PostgreSQL resolves it (folded to lower case unless quoted); empty otherwise.
     */
    public static Optional<Deallocation> deallocation(String sql) {
        List<List<SqlLexer.Token>> statements = SqlLexer.lex(sql).statements();
        if (statements.size() != 1 || !statements.get(0).get(0).is("deallocate")) {
            return Optional.empty();
        }
        List<SqlLexer.Token> t = statements.get(0);
        int at = t.size() > 2 && t.get(1).is("prepare") ? 2 : 1; // DEALLOCATE [PREPARE] name
        if (at != t.size() - 1) {
            return Optional.empty();
        }
        SqlLexer.Token name = t.get(at);
        if (name.is("all")) {
            return Optional.of(new Deallocation("", true));
        }
        return switch (name.type()) {
            case WORD -> Optional.of(new Deallocation(name.text(), false));
            case QUOTED_IDENTIFIER -> Optional.of(new Deallocation(name.text().replace("\"\"", "\""), false));
            default -> Optional.empty();
        };
    }

    /**
     * The statements of {@code sql} that change session state (SET, RESET, DISCARD, as
     * {@link StatementKind#SESSION}), each as its own text, in order: what must be replayed on the
     * session's other backends when such a statement ran inside a string with other statements.
     */
    public static List<String> sessionStatements(String sql) {
        SqlLexer.Result lexed = SqlLexer.lexWithTexts(sql);
        List<String> found = new java.util.ArrayList<>();
        for (int i = 0; i < lexed.statements().size(); i++) {
            if (kindOf(lexed.statements().get(i)) == StatementKind.SESSION) {
                found.add(lexed.texts().get(i));
            }
        }
        return found;
    }

    static StatementKind kindOf(List<SqlLexer.Token> t) {
        int start = 0;
        while (start < t.size() && t.get(start).type() == SqlLexer.Type.PUNCT && t.get(start).text().equals("(")) {
            start++; // (SELECT ...) UNION (SELECT ...)
        }
        if (start >= t.size() || t.get(start).type() != SqlLexer.Type.WORD) {
            return StatementKind.WRITE;
        }
        String first = t.get(start).text();
        return switch (first) {
            case "select", "values", "table" -> readUnlessWriting(t, start);
            case "with" -> readUnlessWriting(t, start);
            case "show" -> StatementKind.READ;
            case "explain" -> explain(t, start);
            case "begin", "start" -> begin(t, start);
            case "commit", "end", "rollback", "abort" -> endOrSavepoint(t, start);
            case "set", "reset" -> setStatement(t, start);
            case "discard" -> StatementKind.SESSION;
            case "copy" -> copy(t, start);
            default -> StatementKind.WRITE; // DML, DDL, LISTEN/NOTIFY, CALL, DO, VACUUM, LOCK, PREPARE, EXECUTE ...
        };
    }

    /** A SELECT/WITH/VALUES is a read unless it locks rows, modifies data, creates a table or calls a writer. */
    private static StatementKind readUnlessWriting(List<SqlLexer.Token> t, int start) {
        for (int i = start; i < t.size(); i++) {
            SqlLexer.Token tok = t.get(i);
            if (tok.type() != SqlLexer.Type.WORD) {
                continue;
            }
            String w = tok.text();
            if (DML.contains(w) && !(w.equals("update") && i > 0 && lockClause(t, i))) {
                return StatementKind.WRITE; // WITH ... INSERT, or a data-modifying CTE
            }
            if (w.equals("for") && i + 1 < t.size() && LOCK_STRENGTHS.contains(wordAt(t, i + 1))) {
                return StatementKind.WRITE; // FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE
            }
            if (w.equals("into") && t.get(start).is("select")) {
                return StatementKind.WRITE; // SELECT ... INTO new_table
            }
            if (WRITING_FUNCTIONS.contains(w) && i + 1 < t.size() && t.get(i + 1).text().equals("(")) {
                return StatementKind.WRITE;
            }
        }
        return StatementKind.READ;
    }

    private static boolean lockClause(List<SqlLexer.Token> t, int updateAt) {
        String prev = wordAt(t, updateAt - 1);
        return prev.equals("for") || (prev.equals("key") && wordAt(t, updateAt - 2).equals("no"));
    }

    /** EXPLAIN is a read unless it ANALYZEs (runs) a statement that writes. */
    private static StatementKind explain(List<SqlLexer.Token> t, int start) {
        int i = start + 1;
        boolean analyze = false;
        if (i < t.size() && t.get(i).text().equals("(")) {
            for (i++; i < t.size() && !t.get(i).text().equals(")"); i++) {
                if (t.get(i).is("analyze") || t.get(i).is("analyse")) {
                    boolean off = i + 1 < t.size() && (t.get(i + 1).is("false") || t.get(i + 1).is("off"));
                    analyze |= !off;
                }
            }
            i++;
        } else {
            while (i < t.size() && t.get(i).type() == SqlLexer.Type.WORD
                    && Set.of("analyze", "analyse", "verbose").contains(t.get(i).text())) {
                analyze |= !t.get(i).is("verbose");
                i++;
            }
        }
        if (!analyze) {
            return StatementKind.READ;
        }
        StatementKind inner = i < t.size() ? kindOf(t.subList(i, t.size())) : StatementKind.WRITE;
        return inner == StatementKind.READ ? StatementKind.READ : StatementKind.WRITE;
    }

    private static StatementKind begin(List<SqlLexer.Token> t, int start) {
        if (t.get(start).is("start") && !wordAt(t, start + 1).equals("transaction")) {
            return StatementKind.WRITE;
        }
        for (int i = start + 1; i + 1 < t.size(); i++) {
            if (t.get(i).is("read") && t.get(i + 1).is("only")) {
                return StatementKind.BEGIN_READ_ONLY;
            }
        }
        return StatementKind.BEGIN;
    }

    /** ROLLBACK TO SAVEPOINT stays inside the transaction; the rest end it. */
    private static StatementKind endOrSavepoint(List<SqlLexer.Token> t, int start) {
        if (t.get(start).is("rollback") && (wordAt(t, start + 1).equals("to") || wordAt(t, start + 1).equals("prepared"))) {
            return StatementKind.WRITE;
        }
        if (t.get(start).is("commit") && wordAt(t, start + 1).equals("prepared")) {
            return StatementKind.WRITE;
        }
        return StatementKind.END_TRANSACTION;
    }

    /** SET TRANSACTION / SET LOCAL belong to the transaction; SET [SESSION] x is session state. */
    private static StatementKind setStatement(List<SqlLexer.Token> t, int start) {
        String next = wordAt(t, start + 1);
        if (next.equals("transaction") || next.equals("local") || next.equals("constraints")) {
            return StatementKind.WRITE;
        }
        if (next.equals("session") && wordAt(t, start + 2).equals("characteristics")) {
            return StatementKind.SESSION;
        }
        return StatementKind.SESSION;
    }

    /** COPY ... TO (a table or query out to the client) reads; COPY ... FROM writes. */
    private static StatementKind copy(List<SqlLexer.Token> t, int start) {
        int depth = 0;
        for (int i = start + 1; i < t.size(); i++) {
            String x = t.get(i).text();
            if (x.equals("(")) {
                depth++;
            } else if (x.equals(")")) {
                depth--;
            } else if (depth == 0 && t.get(i).type() == SqlLexer.Type.WORD) {
                if (x.equals("from")) {
                    return StatementKind.WRITE;
                }
                if (x.equals("to")) {
                    boolean query = t.get(start + 1).text().equals("(");
                    return !query || readUnlessWriting(t.subList(start + 2, i), 0) == StatementKind.READ
                            ? StatementKind.READ : StatementKind.WRITE;
                }
            }
        }
        return StatementKind.WRITE;
    }

    private static String wordAt(List<SqlLexer.Token> t, int i) {
        return i >= 0 && i < t.size() && t.get(i).type() == SqlLexer.Type.WORD ? t.get(i).text() : "";
    }
}

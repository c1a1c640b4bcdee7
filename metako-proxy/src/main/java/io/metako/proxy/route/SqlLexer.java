package io.metako.proxy.route;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Just enough of PostgreSQL's lexical rules to classify statements: words (lower-cased), quoted
 * identifiers, punctuation and statement boundaries, with string constants ('...', E'...',
 * $tag$...$tag$) and comments skipped so that their contents never look like keywords. A comment
 * containing {@code metako:primary} is remembered as a routing hint.
 */
final class SqlLexer {
    /** One token: a keyword-like word (lower case), a quoted identifier, or a punctuation character. */
    record Token(Type type, String text) {
        boolean is(String word) {
            return type == Type.WORD && text.equals(word);
        }
    }

    enum Type { WORD, QUOTED_IDENTIFIER, STRING, PUNCT }

    /**
     * The lexer runs for every simple-protocol statement on the proxy's event loop, so it allocates little:
     * one shared token for every constant (strings and numbers alike, whose contents never matter), one
     * shared token per ASCII punctuation character and per common keyword, and one string per other word.
     */
    private static final Token CONSTANT = new Token(Type.STRING, "");
    private static final Token[] PUNCTUATION = new Token[128];
    /** Shared tokens of common keywords, by length: most words of most statements are one of these. */
    private static final Token[][] KEYWORDS;

    static {
        for (char c = 0; c < 128; c++) {
            PUNCTUATION[c] = new Token(Type.PUNCT, String.valueOf(c));
        }
        List<String> words = List.of("select", "from", "where", "and", "or", "not", "in", "is", "null", "as", "on",
                "join", "left", "inner", "outer", "order", "by", "group", "having", "limit", "offset", "union", "all",
                "distinct", "case", "when", "then", "else", "end", "with", "values", "table", "for", "update", "share",
                "insert", "into", "delete", "set", "begin", "commit", "rollback", "show", "explain", "count", "between",
                "like", "exists", "true", "false", "asc", "desc", "returning", "using", "transaction", "read", "only",
                "start", "reset", "discard", "copy", "to");
        int longest = words.stream().mapToInt(String::length).max().orElse(0);
        KEYWORDS = new Token[longest + 1][];
        for (int len = 0; len <= longest; len++) {
            int l = len;
            KEYWORDS[len] = words.stream().filter(w -> w.length() == l).map(w -> new Token(Type.WORD, w)).toArray(Token[]::new);
        }
    }

    /**
     * The statements of a query string, each a list of tokens, and whether a primary hint was seen;
     * {@code texts} holds each statement's source text when it was asked for (else it is empty).
     */
    record Result(List<List<Token>> statements, boolean primaryHint, List<String> texts) {
    }

    private SqlLexer() {
    }

    static Result lex(String sql) {
        return lex(sql, false);
    }

    /** Also keeps each statement's text (from its first token to its end, comments inside included). */
    static Result lexWithTexts(String sql) {
        return lex(sql, true);
    }

    private static Result lex(String sql, boolean withTexts) {
        List<List<Token>> statements = new ArrayList<>();
        List<String> texts = withTexts ? new ArrayList<>() : List.of();
        List<Token> current = new ArrayList<>();
        boolean hint = false;
        int i = 0;
        int n = sql.length();
        int statementStart = 0;
        while (i < n) {
            char c = sql.charAt(i);
            int tokenStart = i;
            boolean wasEmpty = current.isEmpty();
            if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                int end = sql.indexOf('\n', i);
                end = end < 0 ? n : end;
                hint |= isHint(sql, i, end);
                i = end;
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                int end = blockCommentEnd(sql, i);
                hint |= isHint(sql, i, Math.min(end, n));
                i = end;
            } else if (c == '\'') {
                i = stringEnd(sql, i + 1, backslashEscapes(sql, i));
                current.add(CONSTANT);
            } else if (c == '"') {
                int end = i + 1;
                while (end < n && !(sql.charAt(end) == '"' && (end + 1 >= n || sql.charAt(end + 1) != '"'))) {
                    end += sql.charAt(end) == '"' ? 2 : 1;
                }
                current.add(new Token(Type.QUOTED_IDENTIFIER, sql.substring(i + 1, Math.min(end, n))));
                i = end + 1;
            } else if (c == '$' && dollarTag(sql, i) != null) {
                String tag = dollarTag(sql, i);
                int end = sql.indexOf(tag, i + tag.length());
                i = end < 0 ? n : end + tag.length();
                current.add(CONSTANT);
            } else if (c == ';') {
                if (!current.isEmpty()) {
                    statements.add(current);
                    if (withTexts) {
                        texts.add(sql.substring(statementStart, i).strip());
                    }
                    current = new ArrayList<>();
                }
                i++;
                continue;
            } else if (Character.isLetter(c) || c == '_') {
                int end = i;
                while (end < n && (Character.isLetterOrDigit(sql.charAt(end)) || sql.charAt(end) == '_'
                        || sql.charAt(end) == '$')) {
                    end++;
                }
                current.add(word(sql, i, end));
                i = end;
            } else if (c >= '0' && c <= '9') {
                int end = i + 1;
                while (end < n && ((sql.charAt(end) >= '0' && sql.charAt(end) <= '9') || sql.charAt(end) == '.')) {
                    end++;
                }
                current.add(CONSTANT); // a number
                i = end;
            } else if (Character.isWhitespace(c)) {
                i++;
            } else {
                current.add(c < 128 ? PUNCTUATION[c] : new Token(Type.PUNCT, String.valueOf(c)));
                i++;
            }
            if (wasEmpty && !current.isEmpty()) {
                statementStart = tokenStart;
            }
        }
        if (!current.isEmpty()) {
            statements.add(current);
            if (withTexts) {
                texts.add(sql.substring(statementStart, n).strip());
            }
        }
        return new Result(statements, hint, texts);
    }

    /** The word {@code sql[from, to)}: a shared token when it is a common keyword (in any ASCII case). */
    private static Token word(String sql, int from, int to) {
        int len = to - from;
        if (len < KEYWORDS.length) {
            for (Token k : KEYWORDS[len]) {
                if (asciiEqualsIgnoreCase(sql, from, k.text())) {
                    return k;
                }
            }
        }
        return new Token(Type.WORD, lowerCase(sql, from, to));
    }

    /** Whether {@code sql} at {@code from} spells {@code lower} (ASCII lower case), with ASCII letters in any case. */
    private static boolean asciiEqualsIgnoreCase(String sql, int from, String lower) {
        for (int i = 0; i < lower.length(); i++) {
            char c = sql.charAt(from + i);
            if (c >= 'A' && c <= 'Z') {
                c = (char) (c + ('a' - 'A'));
            }
            if (c != lower.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** {@code sql[from, to)} in lower case, without a copy to lower-case when it already is. */
    private static String lowerCase(String sql, int from, int to) {
        for (int i = from; i < to; i++) {
            char c = sql.charAt(i);
            if (Character.toLowerCase(c) != c) {
                return sql.substring(from, to).toLowerCase(Locale.ROOT);
            }
        }
        return sql.substring(from, to);
    }

    /**
     * Whether the comment {@code sql[from, to)} holds {@code metako:primary} (any case), also with blanks
     * around the colon (tools such as pgbench take {@code :name} for a variable).
     */
    private static boolean isHint(String sql, int from, int to) {
        for (int i = from; i + 6 <= to; i++) {
            if (!sql.regionMatches(true, i, "metako", 0, 6)) {
                continue;
            }
            int j = skipBlanks(sql, i + 6, to);
            if (j < to && sql.charAt(j) == ':') {
                j = skipBlanks(sql, j + 1, to);
                if (j + 7 <= to && sql.regionMatches(true, j, "primary", 0, 7)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static int skipBlanks(String sql, int from, int to) {
        int i = from;
        while (i < to && Character.isWhitespace(sql.charAt(i))) {
            i++;
        }
        return i;
    }

    /** Block comments nest in PostgreSQL. */
    private static int blockCommentEnd(String sql, int start) {
        int depth = 0;
        int i = start;
        while (i + 1 < sql.length()) {
            if (sql.charAt(i) == '/' && sql.charAt(i + 1) == '*') {
                depth++;
                i += 2;
            } else if (sql.charAt(i) == '*' && sql.charAt(i + 1) == '/') {
                depth--;
                i += 2;
                if (depth == 0) {
                    return i;
                }
            } else {
                i++;
            }
        }
        return sql.length();
    }

    /** E'...' strings take backslash escapes; a plain '...' does not (standard_conforming_strings). */
    private static boolean backslashEscapes(String sql, int quote) {
        return quote > 0 && (sql.charAt(quote - 1) == 'e' || sql.charAt(quote - 1) == 'E')
                && (quote < 2 || !Character.isLetterOrDigit(sql.charAt(quote - 2)));
    }

    private static int stringEnd(String sql, int from, boolean escapes) {
        int i = from;
        while (i < sql.length()) {
            char c = sql.charAt(i);
            if (escapes && c == '\\') {
                i += 2;
            } else if (c == '\'') {
                if (i + 1 < sql.length() && sql.charAt(i + 1) == '\'') {
                    i += 2;
                } else {
                    return i + 1;
                }
            } else {
                i++;
            }
        }
        return sql.length();
    }

    /** {@code $$} or {@code $tag$} at {@code i}, or null ({@code $1} is a parameter, not a quote). */
    private static String dollarTag(String sql, int i) {
        int end = i + 1;
        while (end < sql.length() && (Character.isLetterOrDigit(sql.charAt(end)) || sql.charAt(end) == '_')) {
            if (end == i + 1 && Character.isDigit(sql.charAt(end))) {
                return null;
            }
            end++;
        }
        return end < sql.length() && sql.charAt(end) == '$' ? sql.substring(i, end + 1) : null;
    }
}

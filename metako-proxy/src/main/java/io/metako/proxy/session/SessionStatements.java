package io.metako.proxy.session;

import io.metako.proxy.protocol.Frame;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.route.Classification;
import io.metako.proxy.route.StatementClassifier;
import io.metako.proxy.route.StatementKind;
import io.metako.proxy.routing.RoutingTable;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What one client session has prepared, and how its units classify: named statements with the
 * version each Parse gives them (a backend holding an older version gets Close + Parse before it
 * runs the statement) and the classifier's verdict kept with each, so a Bind is routed without
 * running the classifier again. The unnamed statement is kept in step the same way, until a simple
 * Query or a Close drops it as PostgreSQL does: a driver may Parse it in one unit (Parse, Describe,
 * Sync) and Bind it in the next, which may go to another backend. A session that creates a temporary
 * table is pinned to the primary, where the table lives.
 */
final class SessionStatements {
    /** A named prepared statement: its version (bumped by each Parse), the Parse message, the verdict. */
    private record Statement(int version, byte[] parseWire, Classification classification) {
    }

    private static final Classification UNKNOWN = new Classification(StatementKind.WRITE, false, 1);
    private static final Pattern CREATE_TEMP = Pattern.compile(
            "(?i)\\bcreate\\s+(?:(?:global|local)\\s+)?temp(?:orary)?\\s+(?:table|sequence|view)\\b");

    private final Map<String, Statement> named = new HashMap<>();
    private int version;
    private Classification lastUnnamed = UNKNOWN;
    /** The last Parse of the unnamed statement, as sent ({@code unnamedLength} 0: none in force); reused. */
    private byte[] unnamedWire = new byte[0];
    private int unnamedLength;
    private int unnamedVersion;
    private Frame classifiedParse;
    private boolean pinnedToPrimary;
    private final PendingDeallocate deallocate = new PendingDeallocate();

    /** The statements of the unit {@code queue[0..end]} as one classification; null when it holds none (a lone Sync, say). */
    Classification classifyUnit(Iterable<Frame> queue, int end) {
        deallocate.reset();
        Iterator<Frame> it = queue.iterator();
        Frame head = it.next();
        if (end == 0 && head.type() == FrontendMessages.QUERY) {
            return classifySimple(FrontendMessages.query(head.payload())); // the common case, without collections
        }
        Classification bound = singleBind(queue, end);
        if (bound != null) {
            return bound; // the other common case: Bind/Execute/Sync of a statement prepared before
        }
        List<Classification> parts = new ArrayList<>();
        Map<String, Classification> parsedHere = new HashMap<>();
        it = queue.iterator();
        for (int i = 0; i <= end; i++) {
            Frame f = it.next();
            switch (f.type()) {
                case FrontendMessages.QUERY -> parts.add(classifyQuery(FrontendMessages.query(f.payload())));
                case FrontendMessages.FUNCTION_CALL -> parts.add(UNKNOWN);
                case FrontendMessages.PARSE -> {
                    FrontendMessages.Parse p = FrontendMessages.Parse.parse(f.payload());
                    Classification pc = classifyQuery(p.sql());
                    parsedHere.put(p.statement(), pc);
                    if (p.statement().isEmpty()) {
                        lastUnnamed = pc; // beforeSend() need not classify this Parse again
                        classifiedParse = f;
                    }
                }
                case FrontendMessages.BIND -> {
                    // a statement parsed in this unit, else as classified when it was parsed (once per statement)
                    String name = FrontendMessages.bindStatement(f.payload());
                    Classification here = parsedHere.get(name);
                    parts.add(here != null ? here : bound(name));
                }
                default -> {
                }
            }
        }
        if (parts.isEmpty()) {
            // Parse / Describe only: prepare where reads would go (a Bind will be routed on its own)
            if (!parsedHere.isEmpty()) {
                return new Classification(StatementKind.READ, false, 0);
            }
            return null;
        }
        boolean force = pinnedToPrimary || parts.stream().anyMatch(Classification::forcePrimary);
        StatementKind kind = StatementClassifier.unitKind(parts.stream().map(Classification::kind).toList());
        return new Classification(kind, force, parts.size());
    }

    /**
     * The verdict on a unit whose only statement is one Bind of a statement parsed in an earlier unit
     * (no Parse, Query or FunctionCall in it), as the general path would give it, without its
     * collections; null for any other unit.
     */
    private Classification singleBind(Iterable<Frame> queue, int end) {
        Iterator<Frame> it = queue.iterator();
        Classification c = null;
        for (int i = 0; i <= end; i++) {
            Frame f = it.next();
            byte t = f.type();
            if (t == FrontendMessages.PARSE || t == FrontendMessages.QUERY || t == FrontendMessages.FUNCTION_CALL) {
                return null;
            }
            if (t == FrontendMessages.BIND) {
                if (c != null) {
                    return null;
                }
                c = bound(FrontendMessages.bindStatement(f.payload()));
            }
        }
        if (c == null) {
            return null;
        }
        boolean force = pinnedToPrimary || c.forcePrimary();
        return force == c.forcePrimary() && c.statements() == 1 ? c : new Classification(c.kind(), force, 1);
    }

    /** The verdict on a Bind of {@code name} parsed in an earlier unit: the unnamed statement's, a named one's, or UNKNOWN. */
    private Classification bound(String name) {
        if (name.isEmpty()) {
            return lastUnnamed;
        }
        Statement s = named.get(name);
        return s != null ? s.classification() : UNKNOWN;
    }

    /** The verdict on a unit that is one Query; a lone {@code DEALLOCATE} is noted, to keep the session's statements in step once it ran. */
    private Classification classifySimple(String sql) {
        Classification c = classifyQuery(sql);
        deallocate.classified(sql, c);
        return c;
    }

    /** The classifier's verdict; a statement that may create a temporary table pins the session's reads to the primary. */
    Classification classifyQuery(String sql) {
        Classification c = StatementClassifier.classify(sql);
        if (c.kind() != StatementKind.READ && !pinnedToPrimary && CREATE_TEMP.matcher(sql).find()) {
            pinnedToPrimary = true;
        }
        return c;
    }

    /**
     * Keeps prepared statements in step before {@code f} goes to {@code link}: records what a Parse
     * defines, parses a statement the link lacks before a Bind or Describe uses it, forgets what
     * a Close drops. A malformed message is a {@link ProtocolException} (the frame is not released).
     */
    void beforeSend(BackendLink link, Frame f) {
        BackendStatements held = link.prepared;
        deallocate.sending(f.type());
        switch (f.type()) {
            case FrontendMessages.PARSE -> {
                FrontendMessages.Parse p = FrontendMessages.Parse.parse(f.payload());
                if (p.statement().isEmpty()) {
                    if (f != classifiedParse) {
                        lastUnnamed = StatementClassifier.classify(p.sql());
                    }
                    classifiedParse = null;
                    keepUnnamed(f);
                    held.unnamed(unnamedVersion);
                } else {
                    if (held.holds(p.statement())) {
                        link.injectClose(p.statement()); // an older version lives there: replace it
                    }
                    int v = ++version;
                    named.put(p.statement(), new Statement(v, ByteBufUtil.getBytes(f.wire()),
                            StatementClassifier.classify(p.sql())));
                    held.put(p.statement(), v);
                }
            }
            case FrontendMessages.BIND -> ensureStatement(link, FrontendMessages.bindStatement(f.payload()));
            case FrontendMessages.DESCRIBE -> {
                FrontendMessages.Target t = FrontendMessages.Target.parse(f.payload());
                if (t.statement()) {
                    ensureStatement(link, t.name());
                }
            }
            case FrontendMessages.CLOSE -> {
                FrontendMessages.Target t = FrontendMessages.Target.parse(f.payload());
                if (t.statement() && !t.name().isEmpty()) {
                    named.remove(t.name());
                    held.remove(t.name());
                } else if (t.statement()) {
                    unnamedLength = 0;
                    held.unnamed(0);
                }
            }
            case FrontendMessages.QUERY -> {
                unnamedLength = 0; // PostgreSQL drops the unnamed statement on a simple Query
                held.unnamed(0);
            }
            default -> {
            }
        }
    }

    /** The unnamed statement's Parse {@code f}, kept (in a reused array) for a backend that has not seen it. */
    private void keepUnnamed(Frame f) {
        ByteBuf wire = f.wire();
        int n = wire.readableBytes();
        if (unnamedWire.length < n) {
            unnamedWire = new byte[Math.max(n, 2 * unnamedWire.length)];
        }
        wire.getBytes(wire.readerIndex(), unnamedWire, 0, n);
        unnamedLength = n;
        unnamedVersion++;
    }

    /** A statement the session prepared elsewhere (or in an older version) is parsed here first. */
    private void ensureStatement(BackendLink link, String name) {
        BackendStatements held = link.prepared;
        if (name.isEmpty()) {
            if (unnamedLength > 0 && held.unnamed() != unnamedVersion) {
                link.injectParse(unnamedWire, unnamedLength);
                held.unnamed(unnamedVersion);
            }
            return;
        }
        Statement s = named.get(name);
        if (s == null) {
            return; // unknown: PostgreSQL answers "prepared statement does not exist", as it should
        }
        int have = held.version(name);
        if (have == s.version()) {
            return;
        }
        if (have != 0) {
            link.injectClose(name);
        }
        link.injectParse(s.parseWire(), s.parseWire().length);
        held.put(name, s.version());
    }

    /** A lone DEALLOCATE of the session's statements being routed: see {@link PendingDeallocate#runOn}. */
    BackendLink deallocatingOn(Iterable<BackendLink> links, RoutingTable table) {
        return deallocate.runOn(links, table, this);
    }

    /** The unit routed last was answered by the proxy instead (it never ran). */
    void unitDropped() {
        deallocate.reset();
    }

    /** The session's unit on {@code ran} ended: a DEALLOCATE that succeeded drops what it named everywhere. */
    void unitDone(BackendLink ran, boolean failed) {
        deallocate.unitDone(ran, failed, this);
    }

    /** The version of named statement {@code name} the session has prepared; 0: none. */
    int version(String name) {
        Statement st = named.get(name);
        return st == null ? 0 : st.version();
    }

    /** The client dropped {@code name} (DEALLOCATE): no longer the session's. */
    void forget(String name) {
        named.remove(name);
    }

    /** DISCARD ALL ran: no backend of the session holds a prepared statement any more. */
    void forgetAll(Collection<BackendLink> links) {
        named.clear();
        links.forEach(l -> l.prepared.clearNamed());
    }
}

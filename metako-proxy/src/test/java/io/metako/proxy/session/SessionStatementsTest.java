package io.metako.proxy.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proxy.protocol.Frame;
import io.metako.proxy.protocol.FrontendMessages;
import io.metako.proxy.route.Classification;
import io.metako.proxy.route.StatementClassifier;
import io.metako.proxy.route.StatementKind;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** How a session's extended-protocol units classify, the Bind-only shortcut included. */
class SessionStatementsTest {
    private final SessionStatements statements = new SessionStatements();
    private final List<Frame> frames = new ArrayList<>();

    @AfterEach
    void release() {
        frames.forEach(Frame::release);
    }

    private Frame frame(byte type, String... cstrings) {
        ByteBuf body = Unpooled.buffer();
        for (String s : cstrings) {
            body.writeBytes(s.getBytes(StandardCharsets.UTF_8)).writeByte(0);
        }
        if (type == FrontendMessages.PARSE || type == FrontendMessages.BIND) {
            body.writeShort(0).writeShort(0); // no parameter types / formats, no parameters
        }
        ByteBuf wire = Unpooled.buffer().writeByte(type).writeInt(4 + body.readableBytes()).writeBytes(body);
        body.release();
        Frame f = new Frame(type, wire);
        frames.add(f);
        return f;
    }

    private Classification unit(Frame... unit) {
        return statements.classifyUnit(List.of(unit), unit.length - 1);
    }

    private Frame sync() {
        return frame(FrontendMessages.SYNC);
    }

    private Frame execute() {
        return frame(FrontendMessages.EXECUTE, "");
    }

    @Test
    void aBindOfTheUnnamedStatementParsedBeforeIsRoutedAsThatStatement() {
        assertThat(unit(frame(FrontendMessages.PARSE, "", "SELECT abalance FROM a WHERE aid = $1"), sync()).kind())
                .as("Parse alone prepares where reads go").isEqualTo(StatementKind.READ);
        Classification bound = unit(frame(FrontendMessages.BIND, "", ""), execute(), sync());
        assertThat(bound).isEqualTo(new Classification(StatementKind.READ, false, 1));

        unit(frame(FrontendMessages.PARSE, "", "UPDATE a SET x = 1"), sync());
        assertThat(unit(frame(FrontendMessages.BIND, "", ""), execute(), sync()).kind()).isEqualTo(StatementKind.WRITE);
    }

    @Test
    void aBindOfAStatementTheSessionNeverPreparedGoesToThePrimary() {
        assertThat(unit(frame(FrontendMessages.BIND, "", "S_9"), execute(), sync()))
                .isEqualTo(new Classification(StatementKind.WRITE, false, 1));
    }

    @Test
    void afterATemporaryTableABoundReadIsForcedToThePrimary() {
        unit(frame(FrontendMessages.PARSE, "", "SELECT 1"), sync());
        assertThat(unit(frame(FrontendMessages.BIND, "", ""), execute(), sync()).forcePrimary()).isFalse();
        statements.classifyQuery("CREATE TEMP TABLE t (x int)");
        assertThat(unit(frame(FrontendMessages.BIND, "", ""), execute(), sync()))
                .isEqualTo(new Classification(StatementKind.READ, true, 1));
    }

    @Test
    void twoBindsInOneUnitAreOneUnitOfTwoStatements() {
        unit(frame(FrontendMessages.PARSE, "", "SELECT 1"), sync());
        assertThat(unit(frame(FrontendMessages.BIND, "", ""), execute(), frame(FrontendMessages.BIND, "", ""), execute(), sync()))
                .isEqualTo(new Classification(StatementKind.READ, false, 2));
    }

    @Test
    void aUnitOfSeveralStatementsClassifiesAsTheSameStringWouldInOneQuery() {
        Classification readOnly = unit(frame(FrontendMessages.PARSE, "", "BEGIN READ ONLY"), frame(FrontendMessages.BIND, "", ""),
                execute(), frame(FrontendMessages.PARSE, "", "SELECT 1"), frame(FrontendMessages.BIND, "", ""), execute(), sync());
        assertThat(readOnly).isEqualTo(new Classification(StatementKind.BEGIN_READ_ONLY, false, 2));
        assertThat(readOnly.kind()).isEqualTo(StatementClassifier.classify("BEGIN READ ONLY; SELECT 1").kind());

        Classification committed = unit(frame(FrontendMessages.PARSE, "", "BEGIN"), frame(FrontendMessages.BIND, "", ""), execute(),
                frame(FrontendMessages.PARSE, "", "INSERT INTO t VALUES (1)"), frame(FrontendMessages.BIND, "", ""), execute(),
                frame(FrontendMessages.PARSE, "", "COMMIT"), frame(FrontendMessages.BIND, "", ""), execute(), sync());
        assertThat(committed.kind()).as("it commits a write: it must not run twice").isEqualTo(StatementKind.WRITE);
        assertThat(committed.kind()).isEqualTo(StatementClassifier.classify("BEGIN; INSERT INTO t VALUES (1); COMMIT").kind());

        Classification opened = unit(frame(FrontendMessages.PARSE, "", "BEGIN"), frame(FrontendMessages.BIND, "", ""), execute(),
                frame(FrontendMessages.PARSE, "", "INSERT INTO t VALUES (1)"), frame(FrontendMessages.BIND, "", ""), execute(), sync());
        assertThat(opened.kind()).as("pgjdbc's first unit of a transaction").isEqualTo(StatementKind.BEGIN);
    }
}

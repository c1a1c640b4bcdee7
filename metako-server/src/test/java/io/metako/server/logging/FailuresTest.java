package io.metako.server.logging;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import org.junit.jupiter.api.Test;

class FailuresTest {
    @Test
    void firstLineSkipsBlankLinesAndNamesTheClassWithoutAMessage() {
        assertThat(Failures.firstLine(new IOException("\npg_rewind: error: could not find WAL\ndetail"))).isEqualTo(
                "pg_rewind: error: could not find WAL");
        assertThat(Failures.firstLine(new IllegalStateException())).isEqualTo("IllegalStateException");
    }

    @Test
    void firstLinesJoinsAndCuts() {
        IOException e = new IOException("one\n\ntwo\nthree\nfour");
        assertThat(Failures.firstLines(e, 3, 400)).isEqualTo("one / two / three");
        assertThat(Failures.firstLines(e, 3, 8)).isEqualTo("one /...").hasSize(8);
    }
}

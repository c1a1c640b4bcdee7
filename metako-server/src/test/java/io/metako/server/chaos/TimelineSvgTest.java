package io.metako.server.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;

class TimelineSvgTest {
    @Test
    void drawsAcksPerNodeFaultsAndEpochsAsWellFormedSvg(@TempDir Path dir) throws Exception {
        Scenario.Timeline t = new Scenario.Timeline();
        long s = t.startMillis();
        t.mark("kill -9 pg-1 <postmaster>");
        List<Op> history = List.of(
                new Op(1, 0, s, s + 50, Op.Outcome.OK, "pg-1", ""),
                new Op(2, 0, s, s + 60, Op.Outcome.OK, "pg-1", ""),
                new Op(3, 1, s + 100, s + 2_000, Op.Outcome.UNKNOWN, "", "08006 broken"),
                new Op(4, 1, s + 2_100, s + 2_150, Op.Outcome.OK, "pg-2", ""));
        Path file = dir.resolve("t.svg");
        TimelineSvg.write(file, "kill-primary seed 1 sync | acked 3 | lost 0", t, history, List.of("pg-1", "pg-2", "pg-3"),
                Map.of(1L, s, 2L, s + 1_500));
        Document svg = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file.toFile());
        String text = svg.getDocumentElement().getTextContent();
        assertThat(text).contains("kill-primary seed 1 sync", "acked 3 | lost 0", "kill -9 pg-1 <postmaster>", "epoch 2",
                "pg-1 acks", "pg-3 acks");
        // two buckets of acknowledgements (pg-1 at 0 ms, pg-2 at 2.1 s) and one of unknown outcomes
        assertThat(svg.getElementsByTagName("rect").getLength()).isEqualTo(1 + 3);
        assertThat(Files.readString(file)).contains("fill=\"#c00000\"");
    }
}

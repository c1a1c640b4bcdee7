package io.metako.server.control;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Verdict;
import io.metako.proto.v1.VerdictRecord;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class StatusSentenceTest {
    static final ClusterState SEEDED = ClusterState.newBuilder().setSeeded(true).setEpoch(4).setPrimary("pg-1").build();

    static ClusterState down(ClusterState s, String... instances) {
        ClusterState.Builder b = s.toBuilder();
        for (String i : instances) {
            b.addVerdicts(VerdictRecord.newBuilder().setInstanceId(i).setNode("pg-1").setVerdict(Verdict.DOWN));
        }
        return b.build();
    }

    static Stream<Arguments> sentences() {
        return Stream.of(
                Arguments.of("no leader known", SEEDED, false, "waiting: no Raft leader known to this instance"),
                Arguments.of("not seeded", ClusterState.getDefaultInstance(), true, "waiting: the cluster is not seeded yet"),
                Arguments.of("all well", SEEDED, true, "no action: pg-1 is primary at epoch 4"),
                Arguments.of("minority sees the primary down", down(SEEDED, "m1"), true, "waiting: pg-1 down for 1/3 instances (no majority)"),
                Arguments.of("majority sees the primary down", down(SEEDED, "m1", "m2"), true, "primary pg-1 is down for 2/3 instances at epoch 4"),
                Arguments.of("paused", SEEDED.toBuilder().setPaused(true).build(), true, "paused: pg-1 is primary at epoch 4"),
                Arguments.of("no primary", SEEDED.toBuilder().setPrimary("").build(), true, "no primary at epoch 4"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sentences")
    void everyTickSaysWhatHoldsInOneSentence(String scenario, ClusterState state, boolean leaderKnown, String expected) {
        assertThat(StatusSentence.describe(state, 3, leaderKnown)).startsWith(expected);
    }
}

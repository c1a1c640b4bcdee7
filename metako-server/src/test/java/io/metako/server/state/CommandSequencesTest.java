package io.metako.server.state;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import org.junit.jupiter.api.Test;

class CommandSequencesTest {
    private static Command cmd(String proposer, long seq) {
        return Command.newBuilder().setProposer(proposer).setSequence(seq).build();
    }

    private static ClusterState apply(ClusterState s, Command c) {
        assertThat(CommandSequences.replay(s, c)).as("accepted: " + c.getSequence()).isNull();
        return CommandSequences.record(s, c);
    }

    @Test
    void eachSequenceNumberOfAProposerIsAcceptedOnceEvenOutOfOrder() {
        ClusterState s = ClusterState.getDefaultInstance();
        s = apply(s, cmd("m1", 100));
        s = apply(s, cmd("m1", 103));
        s = apply(s, cmd("m1", 101)); // late, within the window
        s = apply(s, cmd("m2", 5)); // another proposer has its own numbers
        assertThat(CommandSequences.replay(s, cmd("m1", 100))).contains("replayed command: m1's command 100");
        assertThat(CommandSequences.replay(s, cmd("m1", 101))).contains("applied already");
        assertThat(CommandSequences.replay(s, cmd("m1", 103))).contains("applied already");
        assertThat(CommandSequences.replay(s, cmd("m1", 102))).as("never seen, within the window").isNull();
        assertThat(CommandSequences.replay(s, cmd("m2", 5))).contains("applied already");
        assertThat(CommandSequences.replay(s, cmd("m1", 0))).as("unsequenced (plain mode)").isNull();
        assertThat(CommandSequences.highest(s, "m1")).isEqualTo(103);
    }

    @Test
    void aJumpKeepsWhatFallsInsideTheWindowAndRefusesWhatFallsOut() {
        ClusterState s = ClusterState.getDefaultInstance();
        s = apply(s, cmd("m1", 1000));
        s = apply(s, cmd("m1", 1010));
        s = apply(s, cmd("m1", 1000 + CommandSequences.WINDOW)); // 1000 now the last of the window, 1010 inside
        assertThat(CommandSequences.replay(s, cmd("m1", 1010))).contains("applied already");
        assertThat(CommandSequences.replay(s, cmd("m1", 1000))).contains("applied already");
        assertThat(CommandSequences.replay(s, cmd("m1", 999))).contains("older than the last 256");
        assertThat(CommandSequences.replay(s, cmd("m1", 1001))).isNull();
        s = apply(s, cmd("m1", 100_000)); // far ahead: the whole window moves on
        assertThat(CommandSequences.replay(s, cmd("m1", 1000 + CommandSequences.WINDOW))).contains("older than");
        assertThat(CommandSequences.replay(s, cmd("m1", 100_000 - 1))).isNull();
    }

    @Test
    void numbersFromTwoToTheSixtyThirdAreRefusedSoNoDifferenceOverflows() {
        ClusterState s = apply(ClusterState.getDefaultInstance(), cmd("m1", 5));
        long huge = Long.MIN_VALUE; // 2^63 as an unsigned protobuf uint64
        assertThat(CommandSequences.replay(s, cmd("m1", huge))).contains("out of range");
        assertThat(CommandSequences.record(s, cmd("m1", huge))).isSameAs(s);
        assertThat(CommandSequences.replay(s, cmd("m1", -1L))).contains("out of range");
        s = apply(s, cmd("m1", Long.MAX_VALUE)); // the largest allowed: its own later numbers are then refused
        assertThat(CommandSequences.replay(s, cmd("m1", 10))).contains("older than");
        assertThat(s.getSequences(0).getSeenBelow().size()).as("the window stays 256 bits").isLessThanOrEqualTo(32);
    }
}

package io.metako.server.state;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Command;
import io.metako.proto.v1.SenderSequences;
import java.util.BitSet;

/**
 * Replay protection for signed commands: every command carries a sequence number its proposer increases, and
 * the replicated state remembers, per proposer, the highest one applied and which of the {@link #WINDOW} below it
 * were. Numbers are positive longs (1 to 2^63 - 1): a larger one is refused, so no difference can overflow. A command whose number was seen, or that is older than the window, is refused, so a member that recorded
 * another's signed verdict or acknowledgement cannot append it again later. A window, not a strict order:
 * one instance's commands are submitted concurrently and may reach the log slightly out of order.
 */
final class CommandSequences {
    /** How far below the highest sequence number a late command of the same proposer is still accepted. */
    static final int WINDOW = 256;

    private CommandSequences() {
    }

    /** Why {@code command} may not be applied again, or null when it may (or carries no sequence number). */
    static String replay(ClusterState state, Command command) {
        long seq = command.getSequence();
        if (seq == 0) {
            return null;
        }
        if (seq < 0) { // 2^63 and above: kept out, so that every difference below fits in a long
            return "command sequence number " + Long.toUnsignedString(seq) + " of " + command.getProposer()
                    + " is out of range";
        }
        SenderSequences w = window(state, command.getProposer());
        if (w == null || seq > w.getHighest()) {
            return null;
        }
        long below = w.getHighest() - seq; // 0: the highest itself
        if (below == 0 || (below <= WINDOW && BitSet.valueOf(w.getSeenBelow().toByteArray()).get((int) below - 1))) {
            return "replayed command: " + command.getProposer() + "'s command " + seq + " was applied already";
        }
        if (below > WINDOW) {
            return "command " + seq + " of " + command.getProposer() + " is older than the last " + WINDOW
                    + " it sent (highest " + w.getHighest() + "): refused as a possible replay";
        }
        return null;
    }

    /** {@code state} with {@code command}'s sequence number recorded (unchanged when it carries none). */
    static ClusterState record(ClusterState state, Command command) {
        long seq = command.getSequence();
        if (seq <= 0) { // none, or out of range (refused by replay())
            return state;
        }
        String proposer = command.getProposer();
        ClusterState.Builder b = state.toBuilder();
        int at = -1;
        for (int i = 0; i < b.getSequencesCount(); i++) {
            if (b.getSequences(i).getProposer().equals(proposer)) {
                at = i;
            }
        }
        SenderSequences next;
        if (at < 0) {
            next = SenderSequences.newBuilder().setProposer(proposer).setHighest(seq).build();
        } else {
            SenderSequences w = b.getSequences(at);
            BitSet seen = BitSet.valueOf(w.getSeenBelow().toByteArray());
            long highest = w.getHighest();
            if (seq > highest) {
                long shift = seq - highest;
                BitSet shifted = new BitSet(WINDOW);
                if (shift <= WINDOW) {
                    shifted.set((int) shift - 1); // the old highest
                    for (int i = seen.nextSetBit(0); i >= 0 && i + shift < WINDOW; i = seen.nextSetBit(i + 1)) {
                        shifted.set((int) (i + shift));
                    }
                }
                seen = shifted;
                highest = seq;
            } else if (highest - seq <= WINDOW && seq != highest) {
                seen.set((int) (highest - seq) - 1);
            }
            next = w.toBuilder().setHighest(highest)
                    .setSeenBelow(com.google.protobuf.ByteString.copyFrom(seen.toByteArray())).build();
        }
        return at < 0 ? b.addSequences(next).build() : b.setSequences(at, next).build();
    }

    /** The highest sequence number of {@code proposer}'s commands the state has recorded (0: none). */
    static long highest(ClusterState state, String proposer) {
        SenderSequences w = window(state, proposer);
        return w == null ? 0 : w.getHighest();
    }

    private static SenderSequences window(ClusterState state, String proposer) {
        for (SenderSequences w : state.getSequencesList()) {
            if (w.getProposer().equals(proposer)) {
                return w;
            }
        }
        return null;
    }
}

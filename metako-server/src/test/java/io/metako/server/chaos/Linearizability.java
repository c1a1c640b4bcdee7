package io.metako.server.chaos;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Whether the history of one register is linearizable: the search of Wing and Gong with Lowe's
 * memoisation of (operations placed, register value), the algorithm Knossos and Porcupine use.
 * An operation may be placed next when it started before every unplaced operation that must be
 * placed ended. Operations whose outcome the client could not know may be placed (as if they took
 * effect) or left out; every other one must be placed, and where the register's value allows.
 */
final class Linearizability {
    /** How many placements the search may try before it gives up undecided. */
    static final long DEFAULT_BUDGET = 2_000_000; // each memo entry holds a copy of the placed set: keep it in memory

    enum Kind {
        /** Read {@code value}. */
        READ,
        /** Compare-and-set {@code expected} → {@code value}, which succeeded. */
        CAS_OK,
        /** Compare-and-set that found another value than {@code expected} and changed nothing. */
        CAS_MISSED,
        /** Compare-and-set whose outcome is unknown: it took effect (if the value was {@code expected}) or not at all. */
        CAS_UNKNOWN
    }

    /**
     * One operation on the register.
     *
     * @param startNanos when it was sent
     * @param endNanos   when its answer came; ignored for {@link Kind#CAS_UNKNOWN}, which may take effect any time after it started
     */
    record Call(Kind kind, long expected, long value, long startNanos, long endNanos, String label) {
        boolean required() {
            return kind != Kind.CAS_UNKNOWN;
        }

        long end() {
            return required() ? endNanos : Long.MAX_VALUE;
        }
    }

    /** The answer: linearizable, not (with where the search got stuck), or undecided within the budget. */
    record Result(boolean linearizable, boolean decided, String explanation) {
    }

    private Linearizability() {
    }

    static Result check(List<Call> history, long initial) {
        return check(history, initial, DEFAULT_BUDGET);
    }

    static Result check(List<Call> history, long initial, long budget) {
        List<Call> calls = history.stream().sorted(Comparator.comparingLong(Call::startNanos)).toList();
        int required = (int) calls.stream().filter(Call::required).count();
        if (required == 0) {
            return new Result(true, true, "no operation to place");
        }
        BitSet placed = new BitSet(calls.size());
        Set<Memo> seen = new HashSet<>();
        Deque<Frame> stack = new ArrayDeque<>();
        long value = initial;
        int left = required;
        int mostPlaced = 0;
        BitSet deepest = new BitSet();
        long tries = 0;
        stack.push(new Frame(candidates(calls, placed)));
        while (!stack.isEmpty()) {
            Frame f = stack.peek();
            if (f.chosen >= 0) { // back from a dead end below: take this frame's choice back
                placed.clear(f.chosen);
                value = f.valueBefore;
                left += calls.get(f.chosen).required() ? 1 : 0;
                f.chosen = -1;
            }
            boolean deeper = false;
            while (f.next < f.candidates.length) {
                int c = f.candidates[f.next++];
                if (++tries > budget) {
                    return new Result(false, false, "undecided after " + budget + " placements (" + required + " operations)");
                }
                Call call = calls.get(c);
                Long after = step(value, call);
                if (after == null) {
                    continue;
                }
                placed.set(c);
                if (!seen.add(new Memo((BitSet) placed.clone(), after))) {
                    placed.clear(c);
                    continue;
                }
                f.chosen = c;
                f.valueBefore = value;
                value = after;
                left -= call.required() ? 1 : 0;
                if (left == 0) {
                    return new Result(true, true, required + " operations linearized");
                }
                if (required - left > mostPlaced) {
                    mostPlaced = required - left;
                    deepest = (BitSet) placed.clone();
                }
                stack.push(new Frame(candidates(calls, placed)));
                deeper = true;
                break;
            }
            if (!deeper) {
                stack.pop();
            }
        }
        return new Result(false, true, stuck(calls, deepest, mostPlaced, required));
    }

    /** The register's value after {@code call}, or null when the call cannot happen at {@code value}. */
    private static Long step(long value, Call call) {
        return switch (call.kind()) {
            case READ -> value == call.value() ? value : null;
            case CAS_OK, CAS_UNKNOWN -> value == call.expected() ? call.value() : null;
            case CAS_MISSED -> value != call.expected() ? value : null;
        };
    }

    /** The unplaced calls that started before every unplaced required call ended. */
    private static int[] candidates(List<Call> calls, BitSet placed) {
        long firstEnd = Long.MAX_VALUE;
        for (int i = placed.nextClearBit(0); i < calls.size(); i = placed.nextClearBit(i + 1)) {
            Call c = calls.get(i);
            if (c.startNanos() > firstEnd) {
                break; // sorted by start: the rest started later still
            }
            firstEnd = Math.min(firstEnd, c.end());
        }
        List<Integer> out = new ArrayList<>();
        for (int i = placed.nextClearBit(0); i < calls.size(); i = placed.nextClearBit(i + 1)) {
            if (calls.get(i).startNanos() > firstEnd) {
                break;
            }
            out.add(i);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static String stuck(List<Call> calls, BitSet deepest, int mostPlaced, int required) {
        StringBuilder s = new StringBuilder("no linearization: at most " + mostPlaced + " of " + required
                + " operations placed; the first one that could not be:");
        for (int i = deepest.nextClearBit(0); i < calls.size(); i = deepest.nextClearBit(i + 1)) {
            if (calls.get(i).required()) {
                s.append(' ').append(calls.get(i).label());
                break;
            }
        }
        return s.toString();
    }

    private static final class Frame {
        final int[] candidates;
        int next;
        int chosen = -1;
        long valueBefore;

        Frame(int[] candidates) {
            this.candidates = candidates;
        }
    }

    private record Memo(BitSet placed, long value) {
    }
}

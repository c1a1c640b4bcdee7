package io.metako.proxy.session;

import io.metako.proxy.protocol.Frame;
import java.util.ArrayList;
import java.util.List;

/**
 * The frames of the unit in flight, retained once more (no copy: rewound when needed), while nothing of it
 * has been answered and it cannot have changed anything (a read, BEGIN, SET outside a transaction): if its
 * backend dies before answering (the primary was killed), the unit runs again on the next backend the table
 * names, so a session that was not inside a transaction does not see the failover at all.
 *
 * <p>Buffers: holds one reference to each kept frame, released by {@link #drop} or handed back by {@link #moveTo}.
 */
final class RetryBuffer {
    private final List<Frame> frames = new ArrayList<>(4);
    private boolean keeping;
    private int framesLeft;

    /** A new unit of {@code unitFrames} frames goes out; it is kept only when {@code retryable}. */
    void start(boolean retryable, int unitFrames) {
        drop();
        keeping = retryable;
        framesLeft = unitFrames;
    }

    /** {@code f} goes to the unit's backend: kept (retained) while it belongs to a retryable unit. */
    void sending(Frame f) {
        if (!keeping) {
            return;
        }
        if (framesLeft-- > 0) {
            frames.add(f.retain());
        } else {
            drop(); // pipelined units follow: no longer one unit that can simply run again
        }
    }

    /** Whether a unit that may run again elsewhere is held. */
    boolean holding() {
        return !frames.isEmpty();
    }

    /** The unit was answered, or another one starts: it can no longer simply run again. */
    void drop() {
        keeping = false;
        if (!frames.isEmpty()) {
            frames.forEach(Frame::release);
            frames.clear();
        }
    }

    /** Hands the kept frames back to the head of {@code queue}, to be routed again. */
    void moveTo(UnitQueue queue) {
        queue.pushBack(frames);
        frames.clear();
        keeping = false;
    }
}

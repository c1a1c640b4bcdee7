package io.metako.server.control;

import io.metako.server.state.Nodes;
import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Node;
import io.metako.proto.v1.NodeObservation;
import io.metako.proto.v1.NodeRejoin;
import io.metako.proto.v1.NodeRole;
import java.util.ArrayList;
import java.util.List;

/**
 * The rejoin part of the decision, pure like {@link FailoverDecider}: for every QUARANTINED node while the
 * primary is healthy, start a rejoin (its managing instance stops the node, rewinds or clones it from the primary
 * and starts it as a replica), and complete it once the probes see the node stream from the primary on the
 * primary's timeline. A node seen streaming like that without a rejoin of this epoch (repaired by hand) is
 * adopted. Streaming on the primary's timeline is the proof that the node holds nothing the primary lacks:
 * PostgreSQL refuses to follow a timeline that forked before its own last record.
 */
final class Rejoins {
    /** After a failed attempt, the next one waits this long (the status says why meanwhile). */
    static final long RETRY_MILLIS = 30_000;
    /**
     * A node restarted as a replica that the probes do not see streaming for this long is rejoined again: long
     * enough for a busy old primary's standby to reach consistency and connect.
     */
    static final long STREAM_WAIT_MILLIS = 180_000;

    private Rejoins() {
    }

    /** What to do about the quarantined nodes, and a phrase for each for the controller's sentence. */
    record Step(List<ControllerAction> actions, List<String> notes) {
    }

    static Step step(ControllerView view, Node primary, NodeObservation seenPrimary) {
        ClusterState s = view.state();
        List<ControllerAction> actions = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        String method = method(s);
        boolean auto = !s.getSettings().getRejoin().getManual();
        for (Node n : s.getNodesList()) {
            if (n.getRole() != NodeRole.QUARANTINED) {
                continue;
            }
            String name = n.getName();
            NodeRejoin r = n.getRejoin();
            boolean current = r.getAttempt() > 0 && r.getEpoch() == s.getEpoch();
            NodeObservation o = view.observations().get(name);
            // a rejoin completes only on a probe of the postmaster its managing instance started: one taken before
            // the restart may still say "streaming"; without a rejoin of this epoch, a node streaming is adopted
            boolean restarted = current && r.getFinishedMillis() > 0 && r.getError().isEmpty()
                    && r.getPostmasterStartMicros() != 0 && o != null
                    && o.getPostmasterStartMicros() == r.getPostmasterStartMicros();
            // an added node asked to be cloned (node add --clone) is cloned, streaming or not: it waits for its
            // managing instance to register (the sentence says so), never taken as it is behind the operator's back
            boolean cloneFirst = r.getReinit() && r.getAttempt() == 0;
            if ((restarted || !current) && !cloneFirst && streamsFrom(o, primary, seenPrimary)) {
                actions.add(new ControllerAction.CompleteRejoin(name, !current, current ? r.getAttempt() : 0));
                notes.add(name + " streams from " + primary.getName() + " on timeline " + seenPrimary.getTimeline()
                        + ": taking it back as a replica");
                continue;
            }
            long now = view.nowMillis();
            boolean managerGone = !n.getManagingInstance().isEmpty() && view.unresponsive().contains(n.getManagingInstance());
            if (current && r.getFinishedMillis() == 0) {
                notes.add("rejoining " + name + " (attempt " + r.getAttempt() + ", " + r.getMethod() + ") on "
                        + n.getManagingInstance() + " for " + Math.max(0, now - r.getStartedMillis()) / 1000 + "s"
                        + (managerGone ? ", which does not answer: it resumes when that instance is back" : ""));
                continue;
            }
            String retry = null;
            if (current && r.getError().isEmpty()) {
                long waited = now - r.getFinishedMillis();
                if (waited < STREAM_WAIT_MILLIS) {
                    notes.add(name + " restarted as a replica by " + r.getDoneBy() + "; waiting to see it stream from "
                            + primary.getName());
                    continue;
                }
                retry = name + " was restarted as a replica " + waited / 1000 + "s ago but does not stream from "
                        + primary.getName();
            } else if (current) {
                long waited = now - r.getFinishedMillis();
                String failed = "rejoin of " + name + " failed (attempt " + r.getAttempt() + "): " + r.getError();
                if (!auto || waited < RETRY_MILLIS) {
                    notes.add(failed + (auto ? "; trying again in " + (RETRY_MILLIS - waited + 999) / 1000 + "s"
                            : "; metakoctl rejoin " + name + " tries again"));
                    continue;
                }
                retry = failed;
            }
            if (!auto) {
                notes.add(name + " is quarantined (rejoin.auto is off): metakoctl rejoin " + name + " brings it back");
            } else if (s.getPaused()) {
                notes.add(name + " is quarantined; no automatic rejoin in maintenance mode");
            } else if (n.getManagingInstance().isEmpty() && cloneFirst) {
                notes.add(name + " was added with --clone and waits for an instance that manages it (instance.manages"
                        + " in that instance's file); to take it as it is instead: metakoctl node remove " + name
                        + ", then node add without --clone");
            } else if (n.getManagingInstance().isEmpty()) {
                notes.add(name + " is quarantined and no instance manages it (instance.manages): repair it by hand, it"
                        + " is taken back once it streams from " + primary.getName());
            } else if (managerGone) {
                notes.add(name + " is quarantined; its managing instance " + n.getManagingInstance() + " does not answer");
            } else {
                String how = r.getReinit() ? "clone" : method; // a reinit is tried again as one, whatever the epoch
                actions.add(new ControllerAction.StartRejoin(name, how));
                notes.add((retry == null ? "" : retry + "; ") + "rejoining " + name + " to " + primary.getName()
                        + " (" + how + ") on " + n.getManagingInstance());
            }
        }
        return new Step(actions, notes);
    }

    /** The cluster's rejoin method; empty (a state from before rejoin settings) means the default. */
    static String method(ClusterState s) {
        String m = s.getSettings().getRejoin().getMethod();
        return m.isEmpty() ? io.metako.server.config.RejoinConfig.DEFAULT.method() : m;
    }

    /** In recovery, its WAL receiver streaming from {@code primary}, on the primary's timeline. */
    static boolean streamsFrom(NodeObservation o, Node primary, NodeObservation seenPrimary) {
        return o != null && o.getReachable() && o.getInRecovery() && "streaming".equals(o.getWalReceiverStatus())
                && Nodes.upstreamIs(o, primary)
                && seenPrimary.getTimeline() > 0 && o.getTimeline() == seenPrimary.getTimeline();
    }
}

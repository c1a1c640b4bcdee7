package io.metako.proxy.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proxy.protocol.FrontendMessages;
import org.junit.jupiter.api.Test;

/** The backend side's record of what is in flight, without Netty. */
class UnitTrackerTest {
    private final UnitTracker units = new UnitTracker();

    @Test
    void aReparseInsideTheSessionsUnitIsAnsweredButNotRelayed() {
        units.closeAdded();
        units.parseAdded();
        assertThat(units.clientMessage(FrontendMessages.BIND)).isFalse();
        assertThat(units.clientMessage(FrontendMessages.SYNC)).as("Sync completes the unit").isTrue();
        assertThat(units.answering()).isEqualTo(UnitTracker.Owner.CLIENT);
        assertThat(units.markAnswered()).as("the first answer").isTrue();
        assertThat(units.markAnswered()).isFalse();
        assertThat(units.suppress((byte) '3')).as("the proxy's CloseComplete").isTrue();
        assertThat(units.suppress((byte) '1')).as("the proxy's ParseComplete").isTrue();
        assertThat(units.suppress((byte) '2')).as("the client's BindComplete").isFalse();
        assertThat(units.busy()).isTrue();
        assertThat(units.complete()).extracting(UnitTracker.Done::owner, UnitTracker.Done::failed).containsExactly(UnitTracker.Owner.CLIENT, false);
        assertThat(units.busy()).isFalse();
        assertThat(units.answering()).isNull();
        assertThat(units.complete()).as("a ReadyForQuery nobody asked for").isNull();
    }

    @Test
    void aSessionUnitCarriesTheRouteItWasSentByAndWhen() {
        units.route(false);
        long before = System.nanoTime();
        units.clientMessage(FrontendMessages.QUERY);
        units.route(true); // the next unit's route
        units.clientMessage(FrontendMessages.QUERY);
        UnitTracker.Done first = units.complete();
        assertThat(first.primary()).isFalse();
        assertThat(first.sentNanos()).isBetween(before, System.nanoTime());
        assertThat(units.complete().primary()).isTrue();
    }

    @Test
    void anErrorEndsTheSuppressingAndMarksTheUnitFailed() {
        units.parseAdded();
        units.clientMessage(FrontendMessages.SYNC);
        units.failed();
        assertThat(units.suppress((byte) '1')).as("PostgreSQL skipped the rest of the unit").isFalse();
        assertThat(units.complete()).extracting(UnitTracker.Done::owner, UnitTracker.Done::failed).containsExactly(UnitTracker.Owner.CLIENT, true);
    }

    @Test
    void theProxysQueriesWaitUntilTheSessionsUnitIsCompleteAndAreAnsweredInOrder() {
        units.clientMessage(FrontendMessages.PARSE);
        assertThat(units.internalMayGo()).as("nothing may go into the middle of the session's unit").isFalse();
        units.defer(new UnitTracker.Internal("SET a = 1", UnitTracker.Owner.SWALLOW));
        assertThat(units.nextDeferred()).isNull();
        assertThat(units.empty()).isFalse();
        units.clientMessage(FrontendMessages.SYNC);
        UnitTracker.Internal next = units.nextDeferred();
        assertThat(next).isEqualTo(new UnitTracker.Internal("SET a = 1", UnitTracker.Owner.SWALLOW));
        units.internalSent(next.owner());
        units.internalSent(UnitTracker.Owner.LSN);
        assertThat(units.busy()).as("only the session's unit is unanswered of its own").isTrue();
        assertThat(units.complete().owner()).isEqualTo(UnitTracker.Owner.CLIENT);
        assertThat(units.busy()).isFalse();
        assertThat(units.answering()).isEqualTo(UnitTracker.Owner.SWALLOW);
        assertThat(units.markAnswered()).as("the proxy's own answers are never the client's").isFalse();
        assertThat(units.complete()).extracting(UnitTracker.Done::owner, UnitTracker.Done::failed).containsExactly(UnitTracker.Owner.SWALLOW, false);
        assertThat(units.answering()).isEqualTo(UnitTracker.Owner.LSN);
        assertThat(units.complete()).extracting(UnitTracker.Done::owner, UnitTracker.Done::failed).containsExactly(UnitTracker.Owner.LSN, false);
        assertThat(units.empty()).isTrue();
    }
}

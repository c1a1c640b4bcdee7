package io.metako.proxy.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class AcceptRateTest {
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    private int accepted(AcceptRate rate, int tries) {
        int n = 0;
        for (int i = 0; i < tries; i++) {
            if (rate.tryAccept()) {
                n++;
            }
        }
        return n;
    }

    @Test
    void aBurstOfOneSecondsWorthPassesThenTheRateHolds() {
        AcceptRate rate = new AcceptRate(100, now::get);
        assertThat(accepted(rate, 500)).as("the first second's burst").isEqualTo(100);
        now.addAndGet(100_000_000L); // 100 ms later: 10 more
        assertThat(accepted(rate, 500)).isEqualTo(10);
        now.addAndGet(10_000_000_000L); // a quiet 10 s refills one second's worth, no more
        assertThat(accepted(rate, 500)).isEqualTo(100);
    }

    @Test
    void zeroMeansNoCap() {
        assertThat(accepted(new AcceptRate(0, now::get), 100_000)).isEqualTo(100_000);
    }
}

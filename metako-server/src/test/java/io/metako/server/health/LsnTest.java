package io.metako.server.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class LsnTest {
    @Test
    void parsesAndFormatsPostgresLsns() {
        assertThat(Lsn.parse("0/3000060")).isEqualTo(0x3000060L);
        assertThat(Lsn.parse("16/B374D848")).isEqualTo((0x16L << 32) | 0xB374D848L);
        assertThat(Lsn.format(Lsn.parse("16/B374D848"))).isEqualTo("16/B374D848");
        assertThat(Lsn.parse("1/0") - Lsn.parse("0/FFFFFFFF")).isEqualTo(1);
    }

    @Test
    void emptyIsMinusOneAndGarbageIsRejected() {
        assertThat(Lsn.parse("")).isEqualTo(-1);
        assertThat(Lsn.parse(null)).isEqualTo(-1);
        assertThatThrownBy(() -> Lsn.parse("12345")).hasMessageContaining("not an LSN");
    }
}

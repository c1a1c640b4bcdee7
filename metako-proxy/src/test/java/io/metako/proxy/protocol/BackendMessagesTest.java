package io.metako.proxy.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** Golden bytes: what PostgreSQL itself puts on the wire for these messages. */
class BackendMessagesTest {
    private static final UnpooledByteBufAllocator ALLOC = UnpooledByteBufAllocator.DEFAULT;

    private static String hex(ByteBuf b) {
        try {
            return ByteBufUtil.hexDump(b);
        } finally {
            b.release();
        }
    }

    @Test
    void authenticationOk() {
        assertThat(hex(BackendMessages.authenticationOk(ALLOC))).isEqualTo("520000000800000000");
    }

    @Test
    void readyForQuery() {
        assertThat(hex(BackendMessages.readyForQuery(ALLOC, 'I'))).isEqualTo("5a0000000549");
        assertThat(hex(BackendMessages.readyForQuery(ALLOC, 'T'))).isEqualTo("5a0000000554");
    }

    @Test
    void backendKeyData() {
        assertThat(hex(BackendMessages.backendKeyData(ALLOC, 0x1234, 0x7fffffff))).isEqualTo("4b0000000c000012347fffffff");
    }

    @Test
    void parameterStatus() {
        // 'S', length 25, "TimeZone\0", "UTC\0" ... computed by hand
        String expected = "53" + "00000011" + HexFormat.of().formatHex("TimeZone\0UTC\0".getBytes());
        assertThat(hex(BackendMessages.parameterStatus(ALLOC, "TimeZone", "UTC"))).isEqualTo(expected);
    }

    @Test
    void errorResponseCarriesSeveritySqlstateAndMessage() {
        String body = "SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"app\"\0\0";
        String expected = "45" + String.format("%08x", body.length() + 4) + HexFormat.of().formatHex(body.getBytes());
        assertThat(hex(BackendMessages.errorResponse(ALLOC, "FATAL", SqlState.INVALID_PASSWORD,
                "password authentication failed for user \"app\""))).isEqualTo(expected);
    }

    @Test
    void aNulInAMessageCannotCutTheFieldShort() {
        ByteBuf b = BackendMessages.errorResponse(ALLOC, "ERROR", "08P01", "bad\0input");
        try {
            assertThat(b.toString(java.nio.charset.StandardCharsets.UTF_8)).contains("Mbad input");
        } finally {
            b.release();
        }
    }

    @Test
    void encryptionAnswers() {
        assertThat(hex(BackendMessages.encryptionAnswer(ALLOC, false))).isEqualTo("4e");
        assertThat(hex(BackendMessages.encryptionAnswer(ALLOC, true))).isEqualTo("53");
    }
}

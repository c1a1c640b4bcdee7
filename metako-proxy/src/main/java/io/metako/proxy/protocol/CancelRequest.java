package io.metako.proxy.protocol;

import io.netty.buffer.ByteBuf;

/** A CancelRequest: the process id and secret key the proxy handed out in BackendKeyData. */
public record CancelRequest(int processId, int secretKey) {
    /** Parses the payload of an untyped frame (code, pid, key); does not release it. */
    public static CancelRequest parse(ByteBuf payload) {
        if (payload.readableBytes() != 12) {
            throw new ProtocolException("invalid length of cancel request: " + (payload.readableBytes() + 4));
        }
        return new CancelRequest(payload.getInt(payload.readerIndex() + 4), payload.getInt(payload.readerIndex() + 8));
    }
}

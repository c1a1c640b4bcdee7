package io.metako.proxy.session;

import io.metako.proxy.routing.RoutingTable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A minimal PostgreSQL-speaking server for the session tier: trust login, then per Query a
 * CommandComplete and ReadyForQuery. A query with "BIG" in it streams DataRows until the peer stops reading
 * or goes away (counting the bytes it got out); one with "DIE" closes the connection
 * without an answer ("DIE ONCE": only the first time that query arrives); one with "SLOW" is answered after
 * a second. BEGIN opens a transaction
 * (ReadyForQuery says 'T') until COMMIT or ROLLBACK. The real thing is tested in the server's ITs; this one only lets the session
 * state machine be driven into its corners.
 */
final class ScriptedBackend implements AutoCloseable {
    final ServerSocket server;
    final AtomicInteger connections = new AtomicInteger();
    final AtomicInteger open = new AtomicInteger();
    final AtomicLong bigBytesWritten = new AtomicLong();
    volatile boolean bigEnded;
    /** Every Query received, in order, over all connections. */
    final java.util.List<String> queries = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final java.util.Set<String> diedOnce = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** 0 trust, 3 cleartext, 5 md5: what the proxy must answer at login, with {@link #password} for user postgres. */
    volatile int authCode;
    volatile String password = "";
    /** When set, a NoticeResponse with this text follows the login's ReadyForQuery in the same write. */
    volatile String noticeAfterLogin;
    /** DISCARD ALL gets an ErrorResponse (as inside a transaction block). */
    volatile boolean refuseDiscard;
    /** An impostor: parameters and ReadyForQuery without AuthenticationOk. */
    volatile boolean omitAuthenticationOk;

    ScriptedBackend() throws IOException {
        server = io.metako.proxy.TestServers.start(this::serve);
    }

    RoutingTable.Backend backend(String name) {
        return new RoutingTable.Backend(name, "127.0.0.1", server.getLocalPort());
    }

    private void serve(Socket s) {
        connections.incrementAndGet();
        open.incrementAndGet();
        try (s; DataInputStream in = new DataInputStream(s.getInputStream());
             DataOutputStream out = new DataOutputStream(s.getOutputStream())) {
            int len = in.readInt();
            in.readFully(new byte[len - 4]);
            if (authCode != 0 && !passwordAccepted(in, out)) {
                message(out, 'E', cstrings("SFATAL", "VFATAL", "C28P01", "Mpassword authentication failed for user \"postgres\"", ""));
                out.flush();
                return;
            }
            if (!omitAuthenticationOk) {
                out.write(new byte[] {'R', 0, 0, 0, 8, 0, 0, 0, 0});
            }
            message(out, 'S', cstrings("server_version", "15.0"));
            message(out, 'S', cstrings("client_encoding", "UTF8"));
            out.write('K');
            out.writeInt(12);
            out.writeInt(4242);
            out.writeInt(77);
            String notice = noticeAfterLogin;
            if (notice != null) {
                java.io.ByteArrayOutputStream both = new java.io.ByteArrayOutputStream();
                DataOutputStream b = new DataOutputStream(both);
                b.write(new byte[] {'Z', 0, 0, 0, 5, 'I'});
                message(b, 'N', cstrings("SNOTICE", "C00000", "M" + notice, ""));
                out.write(both.toByteArray()); // one write: the proxy reads both at once
                out.flush();
            } else {
                ready(out, 'I');
            }
            boolean inTransaction = false;
            while (true) {
                int type = in.read();
                if (type < 0 || type == 'X') {
                    return;
                }
                byte[] body = new byte[in.readInt() - 4];
                in.readFully(body);
                if (type != 'Q') {
                    continue;
                }
                String sql = new String(body, 0, body.length - 1, StandardCharsets.UTF_8);
                queries.add(sql);
                if (sql.contains("DIE ONCE")) {
                    if (diedOnce.add(sql)) {
                        return; // the first time only: the next connection answers it
                    }
                } else if (sql.contains("DIE")) {
                    return;
                }
                if (sql.contains("SLOW")) {
                    try {
                        Thread.sleep(1000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                if (sql.contains("BIG")) {
                    streamForever(out);
                    return;
                }
                if (sql.equals("DISCARD ALL") && refuseDiscard) {
                    message(out, 'E', cstrings("SERROR", "VERROR", "C25001", "MDISCARD ALL cannot run inside a transaction block", ""));
                    ready(out, 'I');
                    continue;
                }
                if (sql.startsWith("BEGIN")) {
                    inTransaction = true;
                } else if (sql.startsWith("COMMIT") || sql.startsWith("ROLLBACK")) {
                    inTransaction = false;
                }
                message(out, 'C', cstrings("SELECT 1"));
                ready(out, inTransaction ? 'T' : 'I');
            }
        } catch (IOException e) {
            // the proxy went away
        } finally {
            open.decrementAndGet();
        }
    }

    private boolean passwordAccepted(DataInputStream in, DataOutputStream out) throws IOException {
        byte[] salt = {1, 2, 3, 4};
        out.write('R');
        out.writeInt(authCode == 5 ? 12 : 8);
        out.writeInt(authCode);
        if (authCode == 5) {
            out.write(salt);
        }
        out.flush();
        if (in.read() != 'p') {
            return false;
        }
        byte[] body = new byte[in.readInt() - 4];
        in.readFully(body);
        String given = new String(body, 0, body.length - 1, StandardCharsets.UTF_8);
        String expected = authCode == 5 ? io.metako.proxy.auth.Md5Password.answer("postgres", password, salt) : password;
        return given.equals(expected);
    }

    private void streamForever(DataOutputStream out) {
        byte[] row = new byte[8192];
        try {
            message(out, 'T', new byte[] {0, 0});
            while (true) {
                out.write('D');
                out.writeInt(4 + 2 + 4 + row.length);
                out.writeShort(1);
                out.writeInt(row.length);
                out.write(row);
                bigBytesWritten.addAndGet(1 + 4 + 2 + 4 + row.length);
            }
        } catch (IOException e) {
            bigEnded = true;
        }
    }

    private static void ready(DataOutputStream out, char status) throws IOException {
        out.write(new byte[] {'Z', 0, 0, 0, 5, (byte) status});
        out.flush();
    }

    private static void message(DataOutputStream out, char type, byte[] body) throws IOException {
        out.write(type);
        out.writeInt(4 + body.length);
        out.write(body);
    }

    private static byte[] cstrings(String... parts) {
        StringBuilder sb = new StringBuilder();
        for (String p : parts) {
            sb.append(p).append('\0');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}

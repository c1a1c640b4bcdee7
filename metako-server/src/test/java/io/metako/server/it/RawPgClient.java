package io.metako.server.it;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A PostgreSQL v3 client at the message level, for message sequences no driver sends on its own
 * (pgjdbc always sends Parse and Bind of the unnamed statement in one unit). Cleartext login only.
 */
final class RawPgClient implements AutoCloseable {
    /**
     * What came back up to ReadyForQuery: the message types in order, each error's SQLSTATE and text, and the
     * first column of each row as text (null for SQL NULL).
     */
    record Answer(String types, List<String> errors, List<String> rows) {
    }

    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;

    RawPgClient(int port) throws IOException {
        socket = new Socket("127.0.0.1", port);
        socket.setSoTimeout(30_000);
        in = new DataInputStream(socket.getInputStream());
        out = new DataOutputStream(socket.getOutputStream());
    }

    Answer login(String user, String database, String password) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        writeInt(body, 196608);
        for (String s : new String[] {"user", user, "database", database}) {
            cstring(body, s);
        }
        body.write(0);
        out.writeInt(4 + body.size());
        body.writeTo(out);
        out.flush();
        byte type = in.readByte();
        byte[] payload = new byte[in.readInt() - 4];
        in.readFully(payload);
        if (type != 'R' || payload.length < 4 || payload[3] != 3) {
            throw new IOException("expected a cleartext password request, got '" + (char) type + "'");
        }
        send('p', cstringBytes(password));
        return readUntilReady();
    }

    void parse(String statement, String sql) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, statement);
        cstring(b, sql);
        b.write(0);
        b.write(0); // no parameter types
        send('P', b.toByteArray());
    }

    /** Bind of {@code statement} into the unnamed portal, no parameters, then Execute and Sync. */
    void bindExecuteSync(String statement) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        cstring(b, "");
        cstring(b, statement);
        b.write(new byte[] {0, 0, 0, 0, 0, 0}); // no parameter formats, no parameters, no result formats
        send('B', b.toByteArray());
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        cstring(e, "");
        writeInt(e, 0);
        send('E', e.toByteArray());
        sync();
    }

    void describeStatement(String statement) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write('S');
        cstring(b, statement);
        send('D', b.toByteArray());
    }

    void sync() throws IOException {
        send('S', new byte[0]);
    }

    void query(String sql) throws IOException {
        send('Q', cstringBytes(sql));
    }

    Answer readUntilReady() throws IOException {
        StringBuilder types = new StringBuilder();
        List<String> errors = new ArrayList<>();
        List<String> rows = new ArrayList<>();
        while (true) {
            byte type = in.readByte();
            byte[] payload = new byte[in.readInt() - 4];
            in.readFully(payload);
            types.append((char) type);
            if (type == 'E') {
                errors.add(errorText(payload));
            }
            if (type == 'D') {
                rows.add(firstColumn(payload));
            }
            if (type == 'Z') {
                return new Answer(types.toString(), errors, rows);
            }
        }
    }

    private static String firstColumn(byte[] payload) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(payload);
        if (b.getShort() == 0) {
            return null;
        }
        int len = b.getInt();
        return len < 0 ? null : new String(payload, b.position(), len, java.nio.charset.StandardCharsets.UTF_8);
    }

    private static String errorText(byte[] payload) {
        String code = "";
        String message = "";
        int i = 0;
        while (i < payload.length && payload[i] != 0) {
            byte field = payload[i++];
            int end = i;
            while (payload[end] != 0) {
                end++;
            }
            String value = new String(payload, i, end - i, StandardCharsets.UTF_8);
            if (field == 'C') {
                code = value;
            } else if (field == 'M') {
                message = value;
            }
            i = end + 1;
        }
        return code + " " + message;
    }

    private void send(char type, byte[] payload) throws IOException {
        out.writeByte(type);
        out.writeInt(4 + payload.length);
        out.write(payload);
        out.flush();
    }

    private static void cstring(ByteArrayOutputStream b, String s) {
        b.writeBytes(cstringBytes(s));
    }

    private static byte[] cstringBytes(String s) {
        byte[] text = s.getBytes(StandardCharsets.UTF_8);
        byte[] z = new byte[text.length + 1];
        System.arraycopy(text, 0, z, 0, text.length);
        return z;
    }

    private static void writeInt(ByteArrayOutputStream b, int v) {
        b.write(v >>> 24);
        b.write(v >>> 16);
        b.write(v >>> 8);
        b.write(v);
    }

    @Override
    public void close() throws IOException {
        try {
            send('X', new byte[0]);
        } catch (IOException ignored) {
            // already gone
        }
        socket.close();
    }
}

package io.metako.server.pg;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proxy.auth.ScramClientExchange;
import io.metako.proxy.auth.ScramServerExchange;
import io.metako.proxy.auth.ScramVerifier;
import io.metako.server.demo.FreePorts;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The proxy's SCRAM code against a real PostgreSQL: the client side logs in over the wire, and
 * the server side accepts a password checked against the verifier PostgreSQL itself stored.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ScramInteropIT {
    @Test
    void ourScramTalksToPostgresAndReadsItsVerifiers() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "metako-scram-it-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        LocalPostgres pg = new LocalPostgres(PgBinaries.locate(System.getenv()), new OsCommand("postgres"), "s1",
                dir.resolve("s1"), "127.0.0.1", FreePorts.take(1).get(0));
        try {
            pg.initPrimary("postgres", "pw-super");
            pg.start();
            try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + pg.port() + "/postgres",
                    "postgres", "pw-super")) {
                c.createStatement().execute("CREATE ROLE app LOGIN PASSWORD 'p€ncil wíth spaces'");
                try (ResultSet rs = c.createStatement().executeQuery("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")) {
                    rs.next();
                    ScramVerifier stored = ScramVerifier.parse(rs.getString(1));
                    assertThat(stored).as("PostgreSQL's own verifier parses").isNotNull();
                    // our server side accepts the right password against PostgreSQL's verifier, refuses a wrong one
                    assertThat(exchange(stored, "p€ncil wíth spaces")).isTrue();
                    assertThat(exchange(stored, "pencil")).isFalse();
                }
            }
            assertThat(login(pg.port(), "app", "p€ncil wíth spaces")).isEqualTo("authenticated");
            assertThat(login(pg.port(), "app", "wrong")).contains("28P01");
        } finally {
            pg.kill();
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static boolean exchange(ScramVerifier stored, String password) throws Exception {
        ScramServerExchange server = new ScramServerExchange(stored, "srvnonce");
        ScramClientExchange client = new ScramClientExchange("", password, "clinonce");
        String serverFirst = server.serverFirst(client.clientFirst());
        try {
            return client.serverVerified(server.serverFinal(client.clientFinal(serverFirst)));
        } catch (ScramServerExchange.ScramException e) {
            assertThat(e.wrongPassword()).isTrue();
            return false;
        }
    }

    /** A bare v3 login: StartupMessage, SASL with our client, until AuthenticationOk or an ErrorResponse. */
    private static String login(int port, String user, String password) throws IOException, ScramServerExchange.ScramException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] params = ("user\0" + user + "\0database\0postgres\0\0").getBytes(StandardCharsets.UTF_8);
            out.writeInt(8 + params.length);
            out.writeInt(196608);
            out.write(params);
            out.flush();
            ScramClientExchange client = new ScramClientExchange("", password, "nonce" + System.nanoTime());
            while (true) {
                int type = in.readByte();
                byte[] body = new byte[in.readInt() - 4];
                in.readFully(body);
                if (type == 'E') {
                    return new String(body, StandardCharsets.UTF_8);
                }
                if (type != 'R') {
                    continue;
                }
                int code = ((body[0] & 0xff) << 24) | ((body[1] & 0xff) << 16) | ((body[2] & 0xff) << 8) | (body[3] & 0xff);
                String data = new String(body, 4, body.length - 4, StandardCharsets.UTF_8);
                switch (code) {
                    case 0 -> {
                        return "authenticated";
                    }
                    case 10 -> { // AuthenticationSASL: mechanisms
                        assertThat(data).contains("SCRAM-SHA-256");
                        byte[] first = client.clientFirst().getBytes(StandardCharsets.UTF_8);
                        byte[] mech = "SCRAM-SHA-256\0".getBytes(StandardCharsets.UTF_8);
                        out.writeByte('p');
                        out.writeInt(4 + mech.length + 4 + first.length);
                        out.write(mech);
                        out.writeInt(first.length);
                        out.write(first);
                        out.flush();
                    }
                    case 11 -> { // SASLContinue: server-first
                        byte[] fin = client.clientFinal(data).getBytes(StandardCharsets.UTF_8);
                        out.writeByte('p');
                        out.writeInt(4 + fin.length);
                        out.write(fin);
                        out.flush();
                    }
                    case 12 -> assertThat(client.serverVerified(data)).as("PostgreSQL proved the password").isTrue();
                    default -> {
                        return "unexpected authentication request " + code;
                    }
                }
            }
        }
    }
}

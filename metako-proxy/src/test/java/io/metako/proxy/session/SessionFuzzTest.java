package io.metako.proxy.session;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.metako.proxy.LeakTracker;
import io.metako.proxy.net.ProxyEventLoops;
import io.metako.proxy.routing.RoutingTable;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * A whole client session under fuzzed bytes: a real statement router on loopback, in front of a scripted backend,
 * gets whatever a client sends, raw from its first byte or after a proper login, split as the network splits it.
 * Every answer must be well-formed protocol messages (type, length) until the proxy closes or goes quiet; nothing
 * may throw in the proxy. After the run, the proxy's file descriptors and threads are back to their baseline, no
 * buffer leaked (Netty's PARANOID detector), and a normal client still logs in and gets answers. The default
 * suite replays the seed corpus ({@code SessionFuzzTestInputs}); {@code JAZZER_FUZZ=1} (scripts/fuzz) fuzzes.
 *
 * <p>An input is one flags byte, then the bytes the client sends: bit 0 logs in properly first, bits 1-7 are the
 * size of the chunks the rest is written in (0: all at once).
 */
class SessionFuzzTest {
    private static final String PASSWORD = "fuzz-pw";
    private static ProxyEventLoops loops;
    private static ScriptedBackend backend;
    private static StatementRouter router;
    private static long fdBaseline;
    private static int threadBaseline;
    private static long runs;
    /** Jazzer's network bug detector, once its hooks are in (the first run), lets loopback through. */
    private static boolean loopbackAllowed;

    @BeforeAll
    static void start() throws Exception {
        backend = new ScriptedBackend();
        loops = ProxyEventLoops.create(1);
        RouterSettings settings = new RouterSettings(64 * 1024, 64, Duration.ofSeconds(2), Duration.ofMillis(200), false,
                false, RouterSettings.ClientAuth.PASSWORD, Map.of("app", RouterSettings.ClientUser.withPassword("app", PASSWORD)),
                name -> new RouterSettings.BackendLogin("postgres", ""), Optional.empty(), 4, Duration.ofSeconds(30), false,
                1 << 20);
        RoutingTable table = new RoutingTable(1, Optional.of(backend.backend("A")), List.of(), true);
        router = new StatementRouter(settings, () -> table, loops).start("127.0.0.1", 0);
        normalClientIsServed(); // warms up every thread and pool the baseline must include
        fdBaseline = fds();
        threadBaseline = Thread.activeCount();
    }

    @AfterAll
    static void backToBaseline() throws Exception {
        try {
            normalClientIsServed();
            long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
            while ((fds() > fdBaseline + 4 || Thread.activeCount() > threadBaseline + 2 || router.openSessions() > 0)
                    && System.nanoTime() < deadline) { // the proxy sees the last client's close a moment later
                Thread.sleep(100);
            }
            System.out.println("[session-fuzz] " + runs + " inputs; descriptors " + fdBaseline + " before, " + fds()
                    + " after; threads " + threadBaseline + " before, " + Thread.activeCount() + " after");
            assertThat(fds()).as("open file descriptors back to the baseline").isLessThanOrEqualTo(fdBaseline + 4);
            assertThat(Thread.activeCount()).as("threads back to the baseline").isLessThanOrEqualTo(threadBaseline + 2);
            assertThat(router.openSessions()).as("no session left open").isZero();
            LeakTracker.assertNoLeaks();
        } finally {
            router.close();
            backend.close();
            loops.close();
        }
    }

    @FuzzTest(maxDuration = "30s")
    void anyClientBytesGetProtocolAnswersOrAClose(byte[] input) throws IOException {
        runs++;
        if (!loopbackAllowed) {
            // the session is real sockets, and the proxy dials its backend from its own threads: kept for the run
            com.code_intelligence.jazzer.api.BugDetectors.allowNetworkConnections(
                    (host, port) -> host.equals("127.0.0.1") || host.equals("localhost"));
            loopbackAllowed = true;
        }
        int flags = input.length > 0 ? input[0] & 0xff : 0;
        byte[] rest = input.length > 0 ? java.util.Arrays.copyOfRange(input, 1, input.length) : new byte[0];
        try (Socket s = new Socket("127.0.0.1", router.port())) {
            s.setSoTimeout(2_000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());
            if ((flags & 1) != 0) {
                login(in, out);
            }
            int chunk = flags >> 1;
            try {
                for (int i = 0; i < rest.length; i += chunk == 0 ? rest.length : chunk) {
                    out.write(rest, i, Math.min(chunk == 0 ? rest.length : chunk, rest.length - i));
                    out.flush();
                }
            } catch (IOException closedByTheProxy) {
                // the proxy may end the session before it has everything: what it said is still read below
            }
            s.setSoTimeout(50);
            readMessagesUntilQuietOrClosed(s.getInputStream());
        }
    }

    /** Reads backend messages until the proxy closes or is quiet for a while; each must be well-formed. */
    private static void readMessagesUntilQuietOrClosed(InputStream raw) throws IOException {
        DataInputStream in = new DataInputStream(raw);
        try {
            while (true) {
                int type = in.read();
                if (type < 0) {
                    return; // closed
                }
                int length = in.readInt();
                assertThat(length).as("length of a '" + (char) type + "' from the proxy").isBetween(4, 64 << 20);
                assertThat((char) type).as("a message type the proxy sends").isIn('R', 'S', 'K', 'Z', 'E', 'N', 'C', 'T', 'D',
                        'I', '1', '2', '3', 'n', 't', 's', 'A', 'G', 'H', 'W', 'c', 'd', 'V', 'v');
                in.readFully(new byte[length - 4]);
            }
        } catch (SocketTimeoutException quiet) {
            // it waits for more: fine, the client goes away now
        } catch (java.io.EOFException | java.net.SocketException closed) {
            // closed or reset mid-message: fine
        }
    }

    private static void login(DataInputStream in, DataOutputStream out) throws IOException {
        byte[] startup = "\0\3\0\0user\0app\0database\0db\0\0".getBytes(StandardCharsets.UTF_8);
        out.writeInt(4 + startup.length);
        out.write(startup);
        out.flush();
        expect(in, 'R');
        byte[] pw = (PASSWORD + "\0").getBytes(StandardCharsets.UTF_8);
        out.write('p');
        out.writeInt(4 + pw.length);
        out.write(pw);
        out.flush();
        while (expectAny(in) != 'Z') {
            // AuthenticationOk, ParameterStatus, BackendKeyData
        }
    }

    private static void expect(DataInputStream in, char type) throws IOException {
        assertThat(expectAny(in)).isEqualTo(type);
    }

    private static char expectAny(DataInputStream in) throws IOException {
        char t = (char) in.readByte();
        byte[] body = new byte[in.readInt() - 4];
        in.readFully(body);
        assertThat(t).as("login answer: " + new String(body, StandardCharsets.UTF_8)).isNotEqualTo('E');
        return t;
    }

    private static void normalClientIsServed() throws IOException {
        try (Socket s = new Socket("127.0.0.1", router.port())) {
            s.setSoTimeout(5_000);
            DataInputStream in = new DataInputStream(s.getInputStream());
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            login(in, out);
            ByteArrayOutputStream q = new ByteArrayOutputStream();
            q.writeBytes("SELECT 1\0".getBytes(StandardCharsets.UTF_8));
            out.write('Q');
            out.writeInt(4 + q.size());
            q.writeTo(out);
            out.flush();
            char t;
            boolean completed = false;
            while ((t = expectAny(in)) != 'Z') {
                completed |= t == 'C';
            }
            assertThat(completed).as("a normal client's query is answered").isTrue();
        }
    }

    private static long fds() throws IOException {
        try (var list = Files.list(Path.of("/proc/self/fd"))) {
            return list.count();
        }
    }
}

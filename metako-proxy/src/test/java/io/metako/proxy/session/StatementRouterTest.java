package io.metako.proxy.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proxy.LeakTracker;
import io.metako.proxy.auth.ScramClientExchange;
import io.metako.proxy.net.ProxyEventLoops;
import io.metako.proxy.protocol.FrontendFrameDecoder;
import io.metako.proxy.routing.RoutingTable;
import io.metako.proxy.routing.WriteLease;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The session state machine over real sockets, driven into its corners with raw protocol bytes:
 * logins right and wrong, hostile and broken input, limits, waits, a backend dying, a client
 * vanishing mid-result. Each case ends with an ErrorResponse or a clean close, never a stuck
 * session or a leaked buffer. (RouterIT proves the routing itself against real PostgreSQL.)
 */
class StatementRouterTest {
    private static final String PASSWORD = "s3cret-pw";
    private final ProxyEventLoops loops = ProxyEventLoops.create(2);
    private final AtomicReference<RoutingTable> table = new AtomicReference<>();
    private ScriptedBackend backend;
    private StatementRouter router;
    private ProxyEventLoops oneLoop;

    @BeforeEach
    void start() throws Exception {
        backend = new ScriptedBackend();
        table.set(new RoutingTable(1, Optional.of(backend.backend("A")), List.of(), true));
    }

    private StatementRouter router(RouterSettings.ClientAuth auth, int maxClients, Duration startupTimeout) throws Exception {
        return router(auth, maxClients, startupTimeout, Duration.ofMillis(400));
    }

    private StatementRouter router(RouterSettings.ClientAuth auth, int maxClients, Duration startupTimeout,
                                   Duration failoverWait) throws Exception {
        RouterSettings settings = new RouterSettings(64 * 1024, maxClients, startupTimeout, failoverWait, false,
                false, auth, Map.of("app", RouterSettings.ClientUser.withPassword("app", PASSWORD)),
                name -> new RouterSettings.BackendLogin("postgres", ""), Optional.empty());
        router = new StatementRouter(settings, table::get, loops).start("127.0.0.1", 0);
        return router;
    }

    private StatementRouter router() throws Exception {
        return router(RouterSettings.ClientAuth.PASSWORD, 10, Duration.ofSeconds(5));
    }

    @AfterEach
    void stop() throws Exception {
        if (router != null) {
            router.close();
        }
        backend.close();
        loops.close();
        if (oneLoop != null) {
            oneLoop.close();
        }
    }

    @AfterAll
    static void noLeaks() throws InterruptedException {
        LeakTracker.assertNoLeaks();
    }

    // ---- a raw client -----------------------------------------------------------------------

    record Message(char type, byte[] body) {
        Map<Character, String> fields() {
            Map<Character, String> f = new HashMap<>();
            int i = 0;
            while (i < body.length && body[i] != 0) {
                char code = (char) body[i++];
                int end = i;
                while (body[end] != 0) {
                    end++;
                }
                f.put(code, new String(body, i, end - i, StandardCharsets.UTF_8));
                i = end + 1;
            }
            return f;
        }

        int authCode() {
            return ((body[0] & 0xFF) << 24) | ((body[1] & 0xFF) << 16) | ((body[2] & 0xFF) << 8) | (body[3] & 0xFF);
        }
    }

    final class Client implements AutoCloseable {
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;
        int processId;
        int secretKey;

        Client() throws IOException {
            socket = new Socket("127.0.0.1", router.port());
            socket.setSoTimeout(5000);
            in = new DataInputStream(socket.getInputStream());
            out = new DataOutputStream(socket.getOutputStream());
        }

        void startup(String... params) throws IOException {
            StringBuilder sb = new StringBuilder();
            for (String p : params) {
                sb.append(p).append('\0');
            }
            sb.append('\0');
            byte[] body = sb.toString().getBytes(StandardCharsets.UTF_8);
            out.writeInt(8 + body.length);
            out.writeInt(FrontendFrameDecoder.PROTOCOL_3_0);
            out.write(body);
            out.flush();
        }

        void send(char type, byte[] body) throws IOException {
            out.write(type);
            out.writeInt(4 + body.length);
            out.write(body);
            out.flush();
        }

        void send(char type, String cstring) throws IOException {
            send(type, (cstring + "\0").getBytes(StandardCharsets.UTF_8));
        }

        Message read() throws IOException {
            char type = (char) in.readUnsignedByte();
            byte[] body = new byte[in.readInt() - 4];
            in.readFully(body);
            return new Message(type, body);
        }

        /** Messages up to and including the first of {@code type}. */
        Message readUntil(char type) throws IOException {
            while (true) {
                Message m = read();
                if (m.type() == type) {
                    return m;
                }
                if (m.type() == 'E' && type != 'E') {
                    throw new AssertionError("unexpected error: " + m.fields());
                }
            }
        }

        void login() throws IOException {
            startup("user", "app", "database", "db");
            Message r = read();
            assertThat(r.type()).isEqualTo('R');
            assertThat(r.authCode()).as("cleartext password requested").isEqualTo(3);
            send('p', PASSWORD);
            assertThat(read().authCode()).as("AuthenticationOk").isZero();
            Message m;
            while ((m = read()).type() != 'Z') {
                if (m.type() == 'K') {
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(m.body());
                    processId = b.getInt();
                    secretKey = b.getInt();
                }
            }
        }

        /** Logs in with the right password and returns the fields of the ErrorResponse that refuses the login. */
        Map<Character, String> refusedLogin() throws IOException {
            startup("user", "app");
            read();
            send('p', PASSWORD);
            return readUntil('E').fields();
        }

        /** True when the proxy closed the connection (after whatever it still sent). */
        boolean closedByPeer() throws IOException {
            try {
                while (true) {
                    read();
                }
            } catch (EOFException e) {
                return true;
            } catch (SocketTimeoutException e) {
                return false;
            } catch (IOException e) {
                return true; // reset
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    // ---- logins -----------------------------------------------------------------------------

    @Test
    void silentSocketsCountAgainstTheClientLimitFromTheirAcceptAndCancelsStillGetIn() throws Exception {
        router(RouterSettings.ClientAuth.PASSWORD, 2, Duration.ofSeconds(30));
        int reserve = router.cancelReserve();
        List<Client> held = new java.util.ArrayList<>();
        try {
            Client victim = new Client();
            held.add(victim);
            victim.login();
            Client silent = new Client(); // silent, but it holds the second slot
            held.add(silent);
            await().atMost(Duration.ofSeconds(5)).until(() -> router.openSessions() == 2);
            Client prompt = new Client(); // the proxy is full: the silent socket makes way for one that logs in
            held.add(prompt);
            prompt.login();
            Message evicted = silent.read();
            assertThat(evicted.type()).isEqualTo('E');
            assertThat(evicted.fields().get('C')).isEqualTo("53300");
            assertThat(evicted.fields().get('M')).contains("the oldest unfinished login made way for a new one");
            assertThat(silent.closedByPeer()).isTrue();
            assertThat(router.evictedLogins()).isEqualTo(1);
            await().atMost(Duration.ofSeconds(5)).until(() -> router.openSessions() == 2);
            try (Client third = new Client()) { // over the limit with every slot logged in: it may only cancel
                third.startup("user", "app");
                Message e = third.readUntil('E');
                assertThat(e.fields().get('C')).isEqualTo("53300");
                assertThat(e.fields().get('M')).contains("proxy.max_client_connections is 2");
            }
            try (Client cancel = new Client()) { // a cancel request still gets through when the proxy is full
                cancel.out.writeInt(16);
                cancel.out.writeInt(FrontendFrameDecoder.CANCEL_REQUEST);
                cancel.out.writeInt(victim.processId);
                cancel.out.writeInt(victim.secretKey);
                cancel.out.flush();
                assertThat(cancel.closedByPeer()).isTrue();
            }
            for (int i = 0; i < reserve; i++) {
                held.add(new Client()); // silent sockets fill the reserve
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> router.openSessions() == 2 + reserve);
            try (Client beyond = new Client()) { // beyond the reserve: refused before it says anything
                Message e = beyond.read();
                assertThat(e.type()).isEqualTo('E');
                assertThat(e.fields().get('C')).isEqualTo("53300");
                assertThat(beyond.closedByPeer()).isTrue();
            }
        } finally {
            for (Client c : held) {
                c.close();
            }
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> router.openSessions() == 0);
        try (Client c = new Client()) {
            c.login();
        }
    }

    @Test
    void aFloodOfSilentSocketsFarOverTheLimitDoesNotKeepAClientThatLogsInOut() throws Exception {
        router(RouterSettings.ClientAuth.PASSWORD, 20, Duration.ofSeconds(30));
        List<java.net.Socket> flood = new java.util.ArrayList<>();
        java.net.InetAddress elsewhere = java.net.InetAddress.getByName("127.0.0.2");
        try {
            for (int i = 0; i < 1000; i++) {
                flood.add(new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), router.port(), elsewhere, 0));
            }
            for (int i = 0; i < 3; i++) {
                try (Client c = new Client()) {
                    c.login();
                }
            }
            assertThat(router.evictedLogins()).isGreaterThanOrEqualTo(3);
            // a client in the middle of its login is not the one evicted while the flood's address holds more
            try (Client slow = new Client()) {
                slow.startup("user", "app", "database", "db");
                assertThat(slow.read().type()).isEqualTo('R');
                long before = router.evictedLogins();
                for (int i = 0; i < 200; i++) {
                    flood.add(new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), router.port(), elsewhere, 0));
                }
                // more evictions than the limit: oldest-first alone would have reached the slow client's socket
                await().atMost(Duration.ofSeconds(10)).until(() -> router.evictedLogins() >= before + 40);
                slow.send('p', PASSWORD);
                assertThat(slow.read().authCode()).as("AuthenticationOk after " + (router.evictedLogins() - before)
                        + " evictions").isZero();
            }
        } finally {
            for (java.net.Socket s : flood) {
                s.close();
            }
        }
    }

    @Test
    void strangersDeclaringHugePasswordsAreRefusedAtOnceAndOthersStillLogIn() throws Exception {
        router();
        List<Client> strangers = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < 8; i++) {
                Client s = new Client();
                strangers.add(s);
                s.startup("user", "app", "database", "db");
                assertThat(s.read().type()).isEqualTo('R');
                s.out.write('p');
                s.out.writeInt(60_000_000); // declares 60 MB, then streams some of it
                s.out.write(new byte[64 * 1024]);
                s.out.flush();
            }
            for (Client s : strangers) {
                Message e = s.readUntil('E');
                assertThat(e.fields().get('C')).isEqualTo("08P01");
                assertThat(e.fields().get('M')).contains("over the 10000 allowed before the login completes");
                assertThat(s.closedByPeer()).isTrue();
            }
        } finally {
            for (Client s : strangers) {
                s.close();
            }
        }
        try (Client c = new Client()) {
            c.login();
            c.send('Q', "SELECT 1");
            assertThat(c.readUntil('Z').type()).isEqualTo('Z');
        }
    }

    @Test
    void aClientLogsInWithScramAndItsQueriesReachTheBackend() throws Exception {
        router(RouterSettings.ClientAuth.SCRAM_SHA_256, 10, Duration.ofSeconds(5));
        try (Client c = new Client()) {
            c.startup("user", "app");
            Message sasl = c.read();
            assertThat(sasl.authCode()).isEqualTo(10);
            assertThat(new String(sasl.body(), 4, sasl.body().length - 4, StandardCharsets.UTF_8)).contains("SCRAM-SHA-256");
            ScramClientExchange scram = new ScramClientExchange("", PASSWORD, "clientnonce123");
            byte[] first = scram.clientFirst().getBytes(StandardCharsets.UTF_8);
            byte[] mech = "SCRAM-SHA-256\0".getBytes(StandardCharsets.UTF_8);
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            b.write(mech);
            new DataOutputStream(b).writeInt(first.length);
            b.write(first);
            c.send('p', b.toByteArray());
            Message cont = c.read();
            assertThat(cont.authCode()).isEqualTo(11);
            String serverFirst = new String(cont.body(), 4, cont.body().length - 4, StandardCharsets.UTF_8);
            c.send('p', scram.clientFinal(serverFirst).getBytes(StandardCharsets.UTF_8));
            Message fin = c.read();
            assertThat(fin.authCode()).isEqualTo(12);
            assertThat(scram.serverVerified(new String(fin.body(), 4, fin.body().length - 4, StandardCharsets.UTF_8)))
                    .as("the proxy proves it knows the verifier").isTrue();
            assertThat(c.read().authCode()).isZero();
            Map<String, String> params = new HashMap<>();
            Message m;
            boolean keyData = false;
            while ((m = c.read()).type() != 'Z') {
                if (m.type() == 'S') {
                    String[] kv = new String(m.body(), StandardCharsets.UTF_8).split("\0");
                    params.put(kv[0], kv[1]);
                }
                keyData |= m.type() == 'K';
            }
            assertThat(params).as("the backend's parameters reach the client").containsEntry("server_version", "15.0");
            assertThat(keyData).as("the proxy issues its own BackendKeyData").isTrue();
            c.send('Q', "SELECT 1");
            assertThat(c.readUntil('C').body()).asString(StandardCharsets.UTF_8).startsWith("SELECT 1");
            assertThat((char) c.read().body()[0]).isEqualTo('I');
        }
    }

    @Test
    void aWrongPasswordOrUnknownUserGets28P01() throws Exception {
        router(RouterSettings.ClientAuth.SCRAM_SHA_256, 10, Duration.ofSeconds(5));
        for (String user : new String[] {"app", "nobody"}) {
            try (Client c = new Client()) {
                c.startup("user", user);
                assertThat(c.read().authCode()).isEqualTo(10);
                ScramClientExchange scram = new ScramClientExchange("", "wrong", "nonce456");
                byte[] first = scram.clientFirst().getBytes(StandardCharsets.UTF_8);
                java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
                b.write("SCRAM-SHA-256\0".getBytes(StandardCharsets.UTF_8));
                new DataOutputStream(b).writeInt(first.length);
                b.write(first);
                c.send('p', b.toByteArray());
                Message cont = c.read();
                c.send('p', scram.clientFinal(new String(cont.body(), 4, cont.body().length - 4, StandardCharsets.UTF_8))
                        .getBytes(StandardCharsets.UTF_8));
                Map<Character, String> e = c.readUntil('E').fields();
                assertThat(e).containsEntry('C', "28P01").containsEntry('S', "FATAL")
                        .containsEntry('M', "password authentication failed for user \"" + user + "\"");
                assertThat(c.closedByPeer()).isTrue();
            }
        }
        assertThat(backend.connections.get()).as("no backend is contacted before a client is authenticated").isZero();
    }

    @Test
    void aClosedTableEndsTheSessionAtOnceWithItsReason() throws Exception {
        router(RouterSettings.ClientAuth.PASSWORD, 10, Duration.ofSeconds(5), Duration.ofSeconds(30));
        try (Client c = new Client()) {
            c.login();
            table.set(RoutingTable.closed("metako instance m1 is not in the Raft group (removed)"));
            router.onRoutingTable(table.get());
            long t0 = System.nanoTime();
            c.send('Q', "INSERT INTO t VALUES (1)");
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).containsEntry('C', "57P03").containsEntry('S', "FATAL");
            assertThat(e.get('M')).contains("not in the Raft group");
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("not after proxy.failover_wait (30 s)")
                    .isLessThan(Duration.ofSeconds(5));
            assertThat(c.closedByPeer()).as("the session ends: its backends close").isTrue();
        }
    }

    /**
     * The backend login hands over at its ReadyForQuery in the middle of a read: a message in the same read
     * after it is the link's, relayed as any notice between statements, not lost with the login handler.
     */
    @Test
    void aMessageInTheSameReadAsTheLoginsReadyForQueryReachesTheClient() throws Exception {
        router();
        backend.noticeAfterLogin = "right after the login";
        try (Client c = new Client()) {
            c.login();
            Message notice = c.read();
            assertThat(notice.type()).isEqualTo('N');
            assertThat(notice.fields()).containsEntry('M', "right after the login");
            c.send('Q', "SELECT 1");
            assertThat(c.readUntil('Z').type()).isEqualTo('Z');
        }
    }

    @Test
    void md5ClientLoginsWork() throws Exception {
        router(RouterSettings.ClientAuth.MD5, 10, Duration.ofSeconds(5));
        for (String password : new String[] {PASSWORD, "wrong"}) {
            try (Client c = new Client()) {
                c.startup("user", "app");
                Message r = c.read();
                assertThat(r.authCode()).isEqualTo(5);
                byte[] salt = java.util.Arrays.copyOfRange(r.body(), 4, 8);
                c.send('p', io.metako.proxy.auth.Md5Password.answer("app", password, salt));
                if (password.equals(PASSWORD)) {
                    assertThat(c.read().authCode()).isZero();
                    c.readUntil('Z');
                } else {
                    assertThat(c.readUntil('E').fields()).containsEntry('C', "28P01");
                }
            }
        }
    }

    @Test
    void theProxyLogsInToBackendsThatAskForMd5OrCleartextAndReportsARefusal() throws Exception {
        router();
        backend.password = "node-password";
        for (int method : new int[] {5, 3}) {
            backend.authCode = method;
            try (Client c = new Client()) {
                c.startup("user", "app");
                c.read();
                c.send('p', PASSWORD);
                // the node credentials of these settings carry no password: said at once, not after failover_wait
                Map<Character, String> e = c.readUntil('E').fields();
                assertThat(e).containsEntry('C', "08006").containsEntry('S', "FATAL");
                assertThat(e.get('M')).contains("no password configured").doesNotContain("node-password");
            }
        }
        routerWithBackendLogin(new RouterSettings.BackendLogin("postgres", "node-password"));
        backend.authCode = 5;
        try (Client c = new Client()) {
            c.login();
            c.send('Q', "SELECT 1");
            c.readUntil('Z');
        }
        // a clear-text password goes only to a node whose certificate is verified, unless the settings allow it
        backend.authCode = 3;
        try (Client c = new Client()) {
            Map<Character, String> e = c.refusedLogin();
            assertThat(e).containsEntry('C', "08006");
            assertThat(e.get('M')).contains("asks for the password in clear text", "backend_allow_cleartext_password")
                    .doesNotContain("node-password");
        }
        routerWithBackendLogin(new RouterSettings.BackendLogin("postgres", "node-password", RouterSettings.BackendTls.DISABLED,
                true));
        try (Client c = new Client()) {
            c.login();
            c.send('Q', "SELECT 1");
            c.readUntil('Z');
        }
    }

    private void routerWithBackendLogin(RouterSettings.BackendLogin login) throws Exception {
        if (router != null) {
            router.close();
        }
        RouterSettings settings = new RouterSettings(64 * 1024, 10, Duration.ofSeconds(5), Duration.ofMillis(400), false,
                false, RouterSettings.ClientAuth.PASSWORD, Map.of("app", RouterSettings.ClientUser.withPassword("app", PASSWORD)),
                name -> login, Optional.empty());
        router = new StatementRouter(settings, table::get, loops).start("127.0.0.1", 0);
    }

    @Test
    void withRequireTlsAPlaintextLoginIsRefused() throws Exception {
        RouterSettings settings = new RouterSettings(64 * 1024, 10, Duration.ofSeconds(5), Duration.ofMillis(400), false,
                false, RouterSettings.ClientAuth.PASSWORD, Map.of("app", RouterSettings.ClientUser.withPassword("app", PASSWORD)),
                name -> new RouterSettings.BackendLogin("postgres", ""), Optional.empty(), 0, Duration.ZERO, true);
        router = new StatementRouter(settings, table::get, loops).start("127.0.0.1", 0);
        try (Client c = new Client()) {
            c.startup("user", "app");
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).containsEntry('C', "28000");
            assertThat(e.get('M')).contains("only TLS connections", "proxy.require_tls");
            assertThat(c.closedByPeer()).isTrue();
        }
    }

    @Test
    void aNodeThatSkipsAuthenticationOkIsNoNodeOfOurs() throws Exception {
        router();
        backend.omitAuthenticationOk = true;
        try (Client c = new Client()) {
            Map<Character, String> e = c.refusedLogin();
            assertThat(e).containsEntry('C', "08006");
            assertThat(e.get('M')).contains("before AuthenticationOk");
        }
        assertThat(backend.queries).as("no statement reached it").isEmpty();
    }

    @Test
    void aNodeThisInstanceHasNoCredentialsForIsNotSentAnotherNodesOnes() throws Exception {
        routerWithBackendLogin(RouterSettings.BackendLogin.unconfigured());
        try (Client c = new Client()) {
            Map<Character, String> e = c.refusedLogin();
            assertThat(e).containsEntry('C', "08006");
            assertThat(e.get('M')).contains("is in the cluster's topology but not in this instance's configuration");
        }
        assertThat(backend.queries).as("nothing reached the node").isEmpty();
    }

    @Test
    void aReplicationConnectionIsRefused() throws Exception {
        router();
        try (Client c = new Client()) {
            c.startup("user", "app", "replication", "true");
            assertThat(c.readUntil('E').fields()).containsEntry('C', "0A000");
            assertThat(c.closedByPeer()).isTrue();
        }
    }

    @Test
    void sslAndGssEncryptionRequestsAreDeclinedWithoutTlsAndTheLoginGoesOn() throws Exception {
        router();
        try (Client c = new Client()) {
            c.out.writeInt(8);
            c.out.writeInt(FrontendFrameDecoder.GSSENC_REQUEST);
            c.out.flush();
            assertThat((char) c.in.readUnsignedByte()).isEqualTo('N');
            c.out.writeInt(8);
            c.out.writeInt(FrontendFrameDecoder.SSL_REQUEST);
            c.out.flush();
            assertThat((char) c.in.readUnsignedByte()).isEqualTo('N');
            c.login();
        }
    }

    // ---- hostile and broken input -----------------------------------------------------------

    @Test
    void aStartupPacketWithAnImpossibleLengthEndsTheSession() throws Exception {
        router();
        try (Client c = new Client()) {
            c.out.writeInt(1 << 30);
            c.out.writeInt(FrontendFrameDecoder.PROTOCOL_3_0);
            c.out.flush();
            assertThat(c.readUntil('E').fields()).containsEntry('C', "08P01").extractingByKey('M').asString()
                    .contains("invalid length of startup packet");
            assertThat(c.closedByPeer()).isTrue();
        }
    }

    @Test
    void aMessageOverMaxMessageSizeEndsTheSessionAndItsBackend() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            c.out.write('Q');
            c.out.writeInt(10 << 20);
            c.out.write(new byte[1000]);
            c.out.flush();
            assertThat(c.readUntil('E').fields()).containsEntry('C', "54000").extractingByKey('M').asString()
                    .contains("proxy.max_message_size");
            assertThat(c.closedByPeer()).isTrue();
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(backend.open.get()).as("the backend connection is closed too").isZero();
            assertThat(router.openSessions()).isZero();
        });
    }

    @Test
    void malformedMessagesEndTheSessionWithProtocolViolation() throws Exception {
        router();
        Map<String, byte[]> cases = new java.util.LinkedHashMap<>();
        cases.put("P", "stmt\0SELECT 1".getBytes(StandardCharsets.UTF_8)); // no terminating zero
        cases.put("Q", "SELECT 1".getBytes(StandardCharsets.UTF_8));       // no terminating zero either
        cases.put("D", "Xname\0".getBytes(StandardCharsets.UTF_8));         // neither S nor P
        cases.put("?", new byte[0]);                                        // no such message type
        cases.put("Z", new byte[] {'I'});                                   // a backend message from a client
        for (var e : cases.entrySet()) {
            try (Client c = new Client()) {
                c.login();
                c.send(e.getKey().charAt(0), e.getValue());
                if (!e.getKey().equals("?") && !e.getKey().equals("Z")) {
                    c.send('S', new byte[0]);
                }
                assertThat(c.readUntil('E').fields()).as(e.getKey()).containsEntry('C', "08P01").containsEntry('S', "FATAL");
                assertThat(c.closedByPeer()).isTrue();
            }
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(router.openSessions()).isZero());
    }

    @Test
    void aTruncatedMessageFromAVanishingClientLeavesNothingBehind() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            c.out.write('Q');
            c.out.writeInt(1000);
            c.out.write("SELECT".getBytes(StandardCharsets.UTF_8));
            c.out.flush();
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(router.openSessions()).isZero();
            assertThat(backend.open.get()).isZero();
        });
    }

    @Test
    void aLoginThatNeverFinishesTimesOut() throws Exception {
        router(RouterSettings.ClientAuth.PASSWORD, 10, Duration.ofMillis(300));
        try (Client c = new Client()) {
            c.startup("user", "app");
            assertThat(c.read().authCode()).isEqualTo(3);
            // ...and no password follows
            assertThat(c.readUntil('E').fields()).extractingByKey('M').asString().contains("proxy.startup_timeout");
            assertThat(c.closedByPeer()).isTrue();
        }
        try (Client c = new Client()) {
            // not even a startup packet
            assertThat(c.readUntil('E').fields()).containsEntry('S', "FATAL");
            assertThat(c.closedByPeer()).isTrue();
        }
    }

    @Test
    void clientsOverMaxClientConnectionsAreRefusedWith53300() throws Exception {
        router(RouterSettings.ClientAuth.PASSWORD, 1, Duration.ofSeconds(5));
        try (Client first = new Client()) {
            first.login();
            try (Client second = new Client()) { // over the limit: it may send a cancel request, not log in
                second.startup("user", "app");
                assertThat(second.readUntil('E').fields()).containsEntry('C', "53300");
                assertThat(second.closedByPeer()).isTrue();
            }
            first.send('Q', "SELECT 1");
            first.readUntil('Z');
        }
    }

    @Test
    void aCancelRequestWithAWrongKeyIsIgnoredAndClosed() throws Exception {
        router();
        try (Client victim = new Client(); Client cancel = new Client()) {
            victim.login();
            cancel.out.writeInt(16);
            cancel.out.writeInt(FrontendFrameDecoder.CANCEL_REQUEST);
            cancel.out.writeInt(12345);
            cancel.out.writeInt(678);
            cancel.out.flush();
            assertThat(cancel.closedByPeer()).isTrue();
            victim.send('Q', "SELECT 1");
            victim.readUntil('Z');
        }
    }

    // ---- failures on the way ----------------------------------------------------------------

    @Test
    void withoutAPrimaryAWriteWaitsFailoverWaitThenGetsARetryableErrorAndTheSessionGoesOn() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            table.set(new RoutingTable(2, Optional.empty(), List.of(), true));
            router.onRoutingTable(table.get());
            long t0 = System.nanoTime();
            c.send('Q', "INSERT INTO t VALUES (1)");
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).containsEntry('C', "57P03").containsEntry('S', "ERROR");
            assertThat(e.get('M')).contains("failover").contains("proxy.failover_wait");
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isGreaterThanOrEqualTo(Duration.ofMillis(350));
            assertThat((char) c.read().body()[0]).as("ReadyForQuery follows: the session lives on").isEqualTo('I');
            table.set(new RoutingTable(2, Optional.of(backend.backend("A")), List.of(), true));
            c.send('Q', "SELECT 1");
            c.readUntil('Z');
        }
    }

    /**
     * A node whose connect fails at once (its host does not resolve) used to leave the session waiting for
     * nothing: the failure was reported before the link was the session's home or current one.
     */
    @Test
    void aNodeWhoseConnectFailsAtOnceIsTriedUntilFailoverWaitThenReported() throws Exception {
        router();
        RoutingTable.Backend nowhere = new RoutingTable.Backend("X", "no-such-host.invalid", 5432);
        try (Client c = new Client()) {
            c.login();
            table.set(new RoutingTable(2, Optional.of(nowhere), List.of(), true));
            router.onRoutingTable(table.get());
            c.send('Q', "INSERT INTO t VALUES (1)");
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).containsEntry('C', "08006").containsEntry('S', "ERROR");
            assertThat(e.get('M')).contains("backend X is unreachable").contains("proxy.failover_wait");
            assertThat((char) c.read().body()[0]).as("ReadyForQuery follows: the session lives on").isEqualTo('I');
        }
        try (Client c = new Client()) {
            c.login(); // with the parameters of the earlier login: the proxy authenticated the client itself
            c.send('Q', "SELECT 1");
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).containsEntry('C', "08006").containsEntry('S', "ERROR");
            assertThat(e.get('M')).contains("backend X is unreachable");
            assertThat((char) c.read().body()[0]).isEqualTo('I');
        }
        router.close();
        router(); // a proxy that has seen no backend login yet has no parameters to give
        try (Client c = new Client()) {
            c.startup("user", "app", "database", "db");
            assertThat(c.read().authCode()).isEqualTo(3);
            c.send('p', PASSWORD);
            assertThat(c.read().authCode()).as("AuthenticationOk").isZero();
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).as("the first backend cannot be reached: said so once failover_wait is over")
                    .containsEntry('C', "08006").containsEntry('S', "FATAL");
            assertThat(e.get('M')).contains("backend X").contains("no-such-host.invalid");
            assertThat(c.closedByPeer()).isTrue();
        }
    }

    @Test
    void aCancelRequestEndsAStatementWaitingForAPrimary() throws Exception {
        router(RouterSettings.ClientAuth.PASSWORD, 10, Duration.ofSeconds(5), Duration.ofSeconds(20));
        try (Client c = new Client(); Client cancel = new Client()) {
            c.login();
            table.set(new RoutingTable(2, Optional.empty(), List.of(), true));
            router.onRoutingTable(table.get());
            long t0 = System.nanoTime();
            c.send('Q', "DELETE FROM t");
            Thread.sleep(200);
            cancel.out.writeInt(16);
            cancel.out.writeInt(FrontendFrameDecoder.CANCEL_REQUEST);
            cancel.out.writeInt(c.processId);
            cancel.out.writeInt(c.secretKey);
            cancel.out.flush();
            assertThat(c.readUntil('E').fields()).containsEntry('C', "57014").containsEntry('S', "ERROR");
            assertThat((char) c.read().body()[0]).isEqualTo('I');
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("not the whole failover_wait").isLessThan(Duration.ofSeconds(5));
        }
    }

    @Test
    void aWriteWaitingForAPrimaryRunsAsSoonAsOneIsThere() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            table.set(new RoutingTable(2, Optional.empty(), List.of(), true));
            router.onRoutingTable(table.get());
            c.send('Q', "UPDATE t SET x = 1");
            Thread.sleep(150);
            table.set(new RoutingTable(3, Optional.of(backend.backend("B")), List.of(), true));
            router.onRoutingTable(table.get());
            c.readUntil('C');
            assertThat((char) c.read().body()[0]).isEqualTo('I');
        }
    }


    /**
     * The table moves on while the session's new connection to the primary it named is still logging
     * in (a node that accepts and then never answers, as a dying one may): the write has not been sent
     * anywhere, so it runs on the next primary and the session lives on. Ending it with 57P01 would fail
     * a client that had nothing in flight.
     */
    @Test
    void aWriteWaitingForALoginToAPrimaryThatIsReplacedRunsOnTheNewPrimary() throws Exception {
        router(RouterSettings.ClientAuth.PASSWORD, 10, Duration.ofSeconds(5), Duration.ofSeconds(20));
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
             Client c = new Client()) {
            CompletableFuture<java.net.Socket> loginArrived = CompletableFuture.supplyAsync(() -> {
                try {
                    java.net.Socket s = silent.accept();
                    s.getInputStream().read(); // the proxy's first byte (SSLRequest or startup): never answered
                    return s;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            c.login();
            table.set(new RoutingTable(2, Optional.of(new RoutingTable.Backend("S", "127.0.0.1", silent.getLocalPort())),
                    List.of(), true));
            router.onRoutingTable(table.get());
            c.send('Q', "UPDATE t SET x = 1");
            java.net.Socket held = loginArrived.get(5, TimeUnit.SECONDS); // the write now waits for S's login
            table.set(new RoutingTable(3, Optional.of(backend.backend("B")), List.of(), true));
            router.onRoutingTable(table.get());
            c.readUntil('C'); // an ErrorResponse (57P01) would fail readUntil
            assertThat((char) c.read().body()[0]).isEqualTo('I');
            assertThat(backend.queries).as("it ran on B").contains("UPDATE t SET x = 1");
            c.send('Q', "SELECT 1");
            assertThat(c.readUntil('Z').type()).as("the session goes on").isEqualTo('Z');
            held.close();
        }
    }

    /**
     * The proxy authenticates clients itself, so a login completes whenever it can: with a primary that
     * accepts and never answers (a frozen host) after a short grace, and with nothing routable at once,
     * using the parameters an earlier login reported. Statements then wait like any other and end with a
     * clear error; the session goes on.
     */
    @Test
    void loginsCompleteWithoutAnAnsweringBackendOnceALoginIsKnown() throws Exception {
        router(RouterSettings.ClientAuth.PASSWORD, 10, Duration.ofSeconds(5), Duration.ofMillis(800));
        try (Client first = new Client()) {
            first.login(); // a real backend login: its parameters are known from now on
        }
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            table.set(new RoutingTable(2, Optional.of(new RoutingTable.Backend("S", "127.0.0.1", silent.getLocalPort())),
                    List.of(), true));
            router.onRoutingTable(table.get());
            try (Client c = new Client()) {
                c.login(); // the client's 5 s read timeout would fail it if the login hung on S
                c.send('Q', "UPDATE t SET x = 1");
                Map<Character, String> e = c.readUntil('E').fields();
                assertThat(e).containsEntry('C', "08006").containsEntry('S', "ERROR");
                assertThat(e.get('M')).contains("backend S is unreachable (no answer to the login within 800 ms)");
                assertThat((char) c.read().body()[0]).as("the session goes on").isEqualTo('I');
                table.set(new RoutingTable(3, Optional.empty(), List.of(), true));
                router.onRoutingTable(table.get());
                try (Client during = new Client()) {
                    during.login(); // nothing routable: at once
                    // the SETs pgjdbc runs while connecting are answered by the proxy and kept for later ...
                    during.send('Q', "SET extra_float_digits = 3");
                    assertThat(new String(during.readUntil('C').body(), StandardCharsets.UTF_8)).startsWith("SET");
                    assertThat(during.read().type()).isEqualTo('Z');
                    during.send('P', "\0SET application_name = 'during'\0\0\0");
                    during.send('B', new byte[] {0, 0, 0, 0, 0, 0, 0, 0});
                    during.send('E', new byte[] {0, 0, 0, 0, 0});
                    during.send('S', new byte[0]);
                    assertThat(List.of(during.read().type(), during.read().type(), during.read().type(), during.read().type()))
                            .as("ParseComplete, BindComplete, CommandComplete, ReadyForQuery").containsExactly('1', '2', 'C', 'Z');
                    during.send('Q', "SELECT 1"); // ... while anything else waits for a node
                    assertThat(during.readUntil('E').fields()).containsEntry('C', "57P03");
                    table.set(new RoutingTable(4, Optional.of(backend.backend("A")), List.of(), true));
                    router.onRoutingTable(table.get());
                    during.send('Q', "SELECT 2");
                    during.readUntil('C');
                    assertThat(backend.queries).as("the settings reach the session's first backend before its statement")
                            .containsSubsequence("SET extra_float_digits = 3", "SET application_name = 'during'", "SELECT 2");
                }
                c.send('Q', "UPDATE t SET x = 2");
                c.readUntil('C');
                assertThat(backend.queries).contains("UPDATE t SET x = 2");
            }
        }
    }

    /**
     * The table drops the node running the session's statement before it answers (a switchover, a lost
     * lease): a read runs again on the new primary, unnoticed by the client; a write may have changed data
     * there, so its session ends with 57P01.
     */
    @Test
    void aReadInFlightOnANodeThatLeavesTheTableRunsAgainAndAWriteEndsItsSession() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            c.send('Q', "SELECT 'SLOW'");
            await().atMost(Duration.ofSeconds(5)).until(() -> backend.queries.contains("SELECT 'SLOW'")); // A answers in 1 s
            table.set(new RoutingTable(2, Optional.of(backend.backend("B")), List.of(), true));
            router.onRoutingTable(table.get());
            c.readUntil('C'); // an ErrorResponse would fail readUntil
            assertThat((char) c.read().body()[0]).isEqualTo('I');
            Thread.sleep(1200); // A's answer, had it been relayed, would be here by now
            assertThat(c.in.available()).as("one answer only: A's late one is not relayed").isZero();
            assertThat(backend.queries).as("sent again whole").containsExactly("SELECT 'SLOW'", "SELECT 'SLOW'");
            assertThat(backend.connections.get()).isEqualTo(2);

            c.send('Q', "UPDATE t SET x = 'SLOW'");
            await().atMost(Duration.ofSeconds(5)).until(() -> backend.queries.contains("UPDATE t SET x = 'SLOW'"));
            table.set(new RoutingTable(3, Optional.of(backend.backend("C")), List.of(), true));
            router.onRoutingTable(table.get());
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).containsEntry('C', "57P01").containsEntry('S', "FATAL");
            assertThat(e.get('M')).contains("no longer serves this session at epoch 3");
        }
    }

    /**
     * The write lease is asked at every use, not only when a table is published: a write answered
     * after the lease ran out is not acknowledged (the new primary may never get it), and a write
     * without a lease waits until the lease is renewed, with no new table.
     */
    @Test
    void writesGoOutAndAreAnsweredOnlyUnderAValidLease() throws Exception {
        WriteLease lease = WriteLease.create();
        lease.renew(1, System.nanoTime(), TimeUnit.MILLISECONDS.toNanos(600));
        table.set(new RoutingTable(1, Optional.of(backend.backend("A")), List.of(), true, lease));
        router(RouterSettings.ClientAuth.PASSWORD, 10, Duration.ofSeconds(5), Duration.ofSeconds(5));
        try (Client c = new Client()) {
            c.login();
            c.send('Q', "UPDATE t SET x = 'SLOW'"); // A answers after 1 s, when the lease has run out
            Message first = c.read();
            assertThat(first.type()).as("no CommandComplete before the error").isEqualTo('E');
            assertThat(first.fields()).containsEntry('C', "08006").containsEntry('S', "FATAL");
            assertThat(first.fields().get('M')).contains("lost its write lease").contains("outcome is unknown");
            assertThat(c.closedByPeer()).isTrue();
        }
        lease.renew(1, System.nanoTime(), TimeUnit.SECONDS.toNanos(30));
        try (Client c = new Client()) {
            c.login();
            lease.drop();
            c.send('Q', "UPDATE t SET x = 1");
            Thread.sleep(300);
            assertThat(backend.queries).as("held while there is no lease").doesNotContain("UPDATE t SET x = 1");
            lease.renew(1, System.nanoTime(), TimeUnit.SECONDS.toNanos(30));
            c.readUntil('C');
            assertThat(c.read().type()).isEqualTo('Z');
            assertThat(backend.queries).contains("UPDATE t SET x = 1");
        }
        lease.renew(1, System.nanoTime(), TimeUnit.MILLISECONDS.toNanos(600));
        try (Client c = new Client()) {
            c.login();
            c.send('Q', "SELECT 'SLOW'"); // a read on the primary (no replica) answered after the lease ran out
            c.readUntil('C'); // passed on: at worst stale, it acknowledges no write
            assertThat(c.read().type()).isEqualTo('Z');
        }
    }

    @Test
    void aBackendDyingUnderAWriteEndsTheSessionSayingTheOutcomeIsUnknown() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            c.send('Q', "DIE UPDATE t SET x = 1");
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).containsEntry('C', "08006").containsEntry('S', "FATAL");
            assertThat(e.get('M')).contains("outcome is unknown");
            assertThat(c.closedByPeer()).isTrue();
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(router.openSessions()).isZero());
    }

    @Test
    void aReadWhoseBackendDiesBeforeAnsweringRunsAgainUnnoticedByTheClient() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            String sql = "SELECT 'DIE ONCE', repeat('x', 100)";
            c.send('Q', sql);
            Message done = c.readUntil('C'); // an error would fail readUntil
            assertThat(new String(done.body(), StandardCharsets.UTF_8)).startsWith("SELECT 1");
            assertThat(c.read().type()).isEqualTo('Z');
            assertThat(backend.connections.get()).as("a second backend connection ran it").isEqualTo(2);
            assertThat(backend.queries).as("sent again whole, byte for byte").containsExactly(sql, sql);
            c.send('Q', "SELECT 2");
            assertThat(c.readUntil('Z').type()).isEqualTo('Z');
        }
    }

    /** The primary hint is for functions that write: such a unit, once sent, never runs a second time. */
    @Test
    void aUnitForcedToThePrimaryIsNotSentAgainWhenItsBackendDies() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            String sql = "/* metako:primary */ SELECT 'DIE ONCE', add_order(1)";
            c.send('Q', sql);
            Map<Character, String> e = c.readUntil('E').fields();
            assertThat(e).containsEntry('C', "08006").containsEntry('S', "FATAL");
            assertThat(e.get('M')).contains("outcome is unknown");
            assertThat(backend.queries).as("sent once").containsExactly(sql);
        }
    }

    @Test
    void aSlowClientHoldsBackTheBackendAndAVanishingOneReleasesIt() throws Exception {
        router();
        try (Client c = new Client()) {
            c.login();
            c.socket.setReceiveBufferSize(64 * 1024);
            c.send('Q', "/* metako:primary */ BIG");
            Thread.sleep(1500); // the client reads nothing
            long written = backend.bigBytesWritten.get();
            Thread.sleep(500);
            assertThat(backend.bigBytesWritten.get() - written).as("the backend is held back, not drained into memory")
                    .isLessThan(1 << 20);
            assertThat(written).as("bounded by socket buffers and the proxy's high-water mark").isLessThan(32L << 20);
            c.read();
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(backend.bigEnded).as("the backend connection is closed when the client vanishes").isTrue();
            assertThat(router.openSessions()).isZero();
        });
    }

    // ---- backend connections kept for reuse ----------------------------------------------------

    private StatementRouter pooledRouter(int idleMax, Duration idleTimeout) throws Exception {
        RouterSettings settings = new RouterSettings(64 * 1024, 10, Duration.ofSeconds(5), Duration.ofMillis(400), false,
                false, RouterSettings.ClientAuth.PASSWORD, Map.of("app", RouterSettings.ClientUser.withPassword("app", PASSWORD)),
                name -> new RouterSettings.BackendLogin("postgres", ""), Optional.empty(), idleMax, idleTimeout);
        oneLoop = ProxyEventLoops.create(1); // a session reuses what its own loop kept: one loop makes that certain
        router = new StatementRouter(settings, table::get, oneLoop).start("127.0.0.1", 0);
        return router;
    }

    private void oneQuery(String sql) throws IOException {
        try (Client c = new Client()) {
            c.login();
            c.send('Q', sql);
            c.readUntil('Z');
        }
    }

    @Test
    void aCleanSessionsBackendConnectionIsResetAndServesTheNextSession() throws Exception {
        pooledRouter(5, Duration.ofSeconds(30));
        oneQuery("SELECT 'first'");
        await().atMost(Duration.ofSeconds(5)).until(() -> router.idleBackendConnections() == 1);
        assertThat(router.connectionsTo("A")).as("a kept connection is no session's (least-connections)").isZero();
        assertThat(router.backendConnections()).as("status: kept, not in use")
                .containsExactly(new StatementRouter.NodeConnections("A", 0, 1));
        try (Client c = new Client()) {
            c.login();
            assertThat(router.idleBackendConnections()).as("taken by the new session").isZero();
            assertThat(router.connectionsTo("A")).isEqualTo(1);
            assertThat(router.backendConnections()).as("status: in use, none kept")
                    .containsExactly(new StatementRouter.NodeConnections("A", 1, 0));
            assertThat(router.openSessions()).isEqualTo(1);
            c.send('Q', "SELECT 'second'");
            assertThat(c.readUntil('Z').body()[0]).isEqualTo((byte) 'I');
        }
        assertThat(backend.connections.get()).as("one backend connection served both sessions").isEqualTo(1);
        assertThat(backend.queries).as("reset between the sessions").startsWith("SELECT 'first'", "DISCARD ALL", "SELECT 'second'");
        await().atMost(Duration.ofSeconds(5)).until(() -> router.idleBackendConnections() == 1);
        assertThat(backend.open.get()).isEqualTo(1);
    }

    @Test
    void aConnectionLeftInsideATransactionOrMidResultIsClosedNotReused() throws Exception {
        pooledRouter(5, Duration.ofSeconds(30));
        oneQuery("BEGIN");
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(backend.open.get())
                .as("a transaction left open: the connection is closed, so PostgreSQL rolls it back").isZero());
        try (Client c = new Client()) {
            c.login();
            c.send('Q', "/* metako:primary */ BIG");
            c.read(); // the result is arriving
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(backend.bigEnded).as("a connection in the middle of a result is closed").isTrue();
            assertThat(backend.open.get()).isZero();
        });
        assertThat(router.idleBackendConnections()).isZero();
        assertThat(backend.queries).doesNotContain("DISCARD ALL");
    }

    @Test
    void aConnectionWhoseResetFailsIsClosedNotReused() throws Exception {
        pooledRouter(5, Duration.ofSeconds(30));
        backend.refuseDiscard = true;
        oneQuery("SELECT 'first'");
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(backend.open.get())
                .as("DISCARD ALL failed: what the session left behind is unknown, so the connection goes").isZero());
        assertThat(backend.queries).contains("DISCARD ALL");
        oneQuery("SELECT 'second'");
        assertThat(backend.connections.get()).as("the next session connected anew").isEqualTo(2);
    }

    @Test
    void idleConnectionsAreBoundedPerNodeAndCloseAfterTheIdleTimeout() throws Exception {
        pooledRouter(1, Duration.ofMillis(800));
        try (Client a = new Client(); Client b = new Client()) {
            a.login();
            b.login();
            assertThat(backend.open.get()).isEqualTo(2);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> router.idleBackendConnections() == 1);
        assertThat(backend.open.get()).as("backend_idle_max 1: the second connection is closed").isEqualTo(1);
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(backend.open.get()).as("closed once idle for backend_idle_timeout").isZero();
            assertThat(router.idleBackendConnections()).isZero();
        });
    }

    @Test
    void idleConnectionsToANodeThatNoLongerServesAreClosed() throws Exception {
        pooledRouter(5, Duration.ofSeconds(30));
        oneQuery("SELECT 1");
        await().atMost(Duration.ofSeconds(5)).until(() -> router.idleBackendConnections() == 1);
        RoutingTable failover = new RoutingTable(2, Optional.empty(), List.of(), false);
        table.set(failover);
        router.onRoutingTable(failover);
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(backend.open.get())
                .as("the old primary's idle connection is closed at the epoch change").isZero());
        assertThat(router.idleBackendConnections()).isZero();
    }
}

package io.metako.server.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Hostile clients against a real instance in a process of its own (its memory and file descriptors read from
 * {@code /proc}), in front of real PostgreSQL: huge messages before and after a login, 20,000 silent sockets, a
 * flood on {@code rw_port}, plaintext pipelined after an SSLRequest. Each time the instance stays up, a client that
 * was there before and a client that comes during the attack are served, and its memory stays bounded. The
 * statement router takes cleartext passwords here (a raw client logs in without SCRAM); the limits do not depend on
 * how clients authenticate.
 */
class HostileClientsIT {
    private static final long MB = 1 << 20;
    private static ChaosCluster c;
    private static long pid;

    @BeforeAll
    static void start() throws Exception {
        c = ChaosCluster.start(3, "async", Duration.ofSeconds(120), false, 0, config -> {
            String yaml = Files.readString(config);
            String anchor = "\n  failover_wait: 10s\n";
            assertThat(yaml).contains(anchor);
            Files.writeString(config, yaml.replace(anchor, anchor + "  client_auth: password\n"));
        });
        pid = c.pid(0).orElseThrow();
    }

    @AfterAll
    static void stop() {
        if (c != null) {
            c.close();
            c.deleteFiles();
        }
    }

    private static long rssMb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) / 1024;
            }
        }
        throw new IOException("no VmRSS for " + pid);
    }

    private static int fds() throws IOException {
        try (var list = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return (int) list.count();
        }
    }

    private static Connection router() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", c.user(ChaosCluster.Port.ROUTER));
        p.setProperty("password", c.password());
        p.setProperty("sslmode", "disable");
        p.setProperty("loginTimeout", "10");
        p.setProperty("socketTimeout", "20");
        return DriverManager.getConnection(c.routerUrl(0), p);
    }

    private static int selectOne(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /** A new client logs in through the router and gets an answer, within 3 attempts (a full proxy may evict one). */
    private static void newClientIsServed() throws SQLException {
        SQLException last = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            try (Connection conn = router()) {
                assertThat(selectOne(conn)).isEqualTo(1);
                return;
            } catch (SQLException e) {
                last = e;
            }
        }
        throw last;
    }

    /** The instance's file descriptors come back to within a few of {@code baseline}. */
    private static void awaitFdsBackTo(int baseline) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
        int now = fds();
        while (now > baseline + 20 && System.nanoTime() < deadline) {
            Thread.sleep(500);
            now = fds();
        }
        assertThat(now).as("file descriptors of the instance back near its baseline " + baseline).isLessThanOrEqualTo(baseline + 20);
    }

    /** A raw protocol client with a cleartext login, for messages no driver sends. */
    private static final class Raw implements AutoCloseable {
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;

        Raw(int port) throws IOException {
            socket = new Socket("127.0.0.1", port);
            socket.setSoTimeout(20_000);
            in = new DataInputStream(socket.getInputStream());
            out = new DataOutputStream(socket.getOutputStream());
        }

        void startup(String user) throws IOException {
            byte[] body = ("\0\3\0\0user\0" + user + "\0database\0postgres\0\0").getBytes(StandardCharsets.UTF_8);
            out.writeInt(4 + body.length);
            out.write(body);
            out.flush();
        }

        /** The next message: its type and payload. */
        Object[] read() throws IOException {
            byte type = in.readByte();
            byte[] payload = new byte[in.readInt() - 4];
            in.readFully(payload);
            return new Object[] {(char) type, payload};
        }

        void login(String user, String password) throws IOException {
            startup(user);
            Object[] r = read();
            assertThat(r[0]).isEqualTo('R');
            byte[] p = (password + "\0").getBytes(StandardCharsets.UTF_8);
            out.write('p');
            out.writeInt(4 + p.length);
            out.write(p);
            out.flush();
            Object[] m;
            while ((m = read())[0] != (Character) 'Z') {
                assertThat(m[0]).as("login answer").isNotEqualTo('E');
            }
        }

        /** The ErrorResponse that comes next, as {@code SQLSTATE: message}. */
        String error() throws IOException {
            Object[] m = read();
            assertThat(m[0]).isEqualTo('E');
            String code = "";
            String message = "";
            for (String field : new String((byte[]) m[1], StandardCharsets.UTF_8).split("\0")) {
                if (field.startsWith("C")) {
                    code = field.substring(1);
                } else if (field.startsWith("M")) {
                    message = field.substring(1);
                }
            }
            return code + ": " + message;
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    @Test
    void hugeMessagesBeforeALoginAreRefusedAndAfterItShareOneBudget() throws Exception {
        int port = c.clientPorts(0).get(0);
        long rss0 = rssMb();
        int fd0 = fds();
        try (Connection bystander = router()) {
            // before a login: eight strangers each declare a 60 MB password and stream it
            for (int i = 0; i < 8; i++) {
                try (Raw s = new Raw(port)) {
                    s.startup(c.user(ChaosCluster.Port.ROUTER));
                    assertThat(s.read()[0]).isEqualTo('R');
                    s.out.write('p');
                    s.out.writeInt(60_000_000);
                    s.out.write(new byte[1024]); // the start of it: the answer must come before the rest is sent
                    s.out.flush();
                    assertThat(s.error()).startsWith("08P01").contains("allowed before the login completes");
                }
            }
            assertThat(selectOne(bystander)).isEqualTo(1);
            // after a login: eight clients each declare a 60 MB query and send 12 MB of it; what the sessions hold
            // together is bounded by proxy.max_buffered_bytes (64 MB at -Xmx256m): the ones that pass it are cut off
            List<Raw> big = new ArrayList<>();
            int refused = 0;
            long peak = rss0;
            try {
                for (int i = 0; i < 8; i++) {
                    Raw r = new Raw(port);
                    big.add(r);
                    r.login(c.user(ChaosCluster.Port.ROUTER), c.password());
                    r.out.write('Q');
                    r.out.writeInt(60_000_000);
                    try {
                        for (int k = 0; k < 192; k++) {
                            r.out.write(new byte[64 * 1024]);
                        }
                        r.out.flush();
                    } catch (IOException cutOff) {
                        // refused while sending: its answer (or the close) is read below
                    }
                    r.socket.setSoTimeout(2_000);
                    try {
                        String e = r.error();
                        assertThat(e).startsWith("53200").contains("proxy.max_buffered_bytes");
                        refused++;
                    } catch (java.net.SocketTimeoutException holding) {
                        // its 12 MB fit in the budget: the proxy waits for the rest
                    } catch (IOException closed) {
                        refused++; // refused, the answer lost to the reset of the bytes still in flight
                    }
                    peak = Math.max(peak, rssMb());
                }
                peak = Math.max(peak, rssMb());
                assertThat(selectOne(bystander)).as("a session from before is served").isEqualTo(1);
                newClientIsServed();
            } finally {
                for (Raw r : big) {
                    r.close();
                }
            }
            System.out.println("[hostile] huge messages: " + refused + " of 8 logged-in clients cut off (53200); RSS " + rss0
                    + " MB before, " + peak + " MB at most during");
            assertThat(refused).as("the budget across sessions refused some of the 60 MB messages").isPositive();
            assertThat(peak - rss0).as("RSS growth (MB)").isLessThan(256);
            // the budget came back: a 5 MB statement passes
            try (Connection conn = router(); Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("SELECT length('" + "x".repeat(5 * (int) MB) + "')")) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(5 * (int) MB);
            }
        }
        awaitFdsBackTo(fd0);
    }

    /**
     * {@link SocketFlood} in a JVM of its own (a process may have fewer descriptors than a large flood needs: split
     * one over several); its report lines go to {@code last}.
     */
    private static Process flood(int port, int count, String mode, int seconds, AtomicReference<String> last)
            throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-Xmx128m", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), SocketFlood.class.getName(), "127.0.0.1", Integer.toString(port),
                Integer.toString(count), mode, Integer.toString(seconds)).redirectErrorStream(true).start();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    last.set(line);
                }
            } catch (IOException ignored) {
                // the process ended
            }
        }, "flood-reader");
        reader.setDaemon(true);
        reader.start();
        return p;
    }

    private static int field(String report, String name) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(name + "=(\\d+)").matcher(report);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    @Test
    void twentyThousandSilentSocketsDoNotKeepClientsOut() throws Exception {
        int port = c.clientPorts(0).get(0);
        long rss0 = rssMb();
        int fd0 = fds();
        List<AtomicReference<String>> reports = List.of(new AtomicReference<>(""), new AtomicReference<>(""));
        long peak = rss0;
        int servedDuring = 0;
        try (Connection bystander = router()) {
            List<Process> floods = new ArrayList<>();
            try {
                for (AtomicReference<String> report : reports) { // 2 x 10,000: a process here may hold 20,000 descriptors
                    floods.add(flood(port, 10_000, "silent", 30, report));
                }
                // while the sockets pour in, a new client may be evicted by the ones after it: a figure, not a check
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                int burstTries = 0;
                int burstServed = 0;
                while (reports.stream().mapToInt(r -> field(r.get(), "connected")).sum() < 19_000
                        && System.nanoTime() < deadline) {
                    burstTries++;
                    try (Connection conn = router()) {
                        selectOne(conn);
                        burstServed++;
                    } catch (SQLException e) {
                        // evicted or refused during the burst
                    }
                    Thread.sleep(100);
                }
                System.out.println("[hostile] during the burst of connections: " + burstServed + " of " + burstTries
                        + " new clients served");
                assertThat(reports.stream().mapToInt(r -> field(r.get(), "connected")).sum())
                        .as("the flood's sockets connected: " + reports).isGreaterThanOrEqualTo(19_000);
                // then the proxy has worked through its accept queue: it holds at most its limit of silent sockets
                while (reports.stream().mapToInt(r -> field(r.get(), "connected") - field(r.get(), "closed")).sum() > 1_100
                        && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                }
                for (int i = 0; i < 5; i++) {
                    newClientIsServed();
                    assertThat(selectOne(bystander)).isEqualTo(1);
                    servedDuring++;
                    peak = Math.max(peak, rssMb());
                    Thread.sleep(1_000);
                }
                for (Process p : floods) {
                    assertThat(p.waitFor(90, TimeUnit.SECONDS)).isTrue();
                }
            } finally {
                floods.forEach(Process::destroyForcibly);
            }
            System.out.println("[hostile] 20,000 silent sockets: " + reports + "; " + servedDuring
                    + " new clients served during; RSS " + rss0 + " MB before, " + peak + " MB at most during");
            assertThat(reports).allMatch(r -> r.get().contains("done=true"));
            assertThat(peak - rss0).as("RSS growth (MB)").isLessThan(256);
            assertThat(selectOne(bystander)).isEqualTo(1);
        }
        awaitFdsBackTo(fd0);
    }

    @Test
    void aFloodOnRwPortIsCappedAndCausesNoFailover() throws Exception {
        int rwPort = c.clientPorts(0).get(1);
        long epoch = c.status(0).orElseThrow().getEpoch();
        long rss0 = rssMb();
        int fd0 = fds();
        AtomicReference<String> last = new AtomicReference<>("");
        Process p = flood(rwPort, 5_000, "startup", 20, last);
        try {
            assertThat(p.waitFor(90, TimeUnit.SECONDS)).isTrue();
        } finally {
            p.destroyForcibly();
        }
        long rssAfter = rssMb();
        System.out.println("[hostile] rw_port flood of 5,000 sockets: " + last.get() + "; RSS " + rss0 + " MB before, "
                + rssAfter + " MB after");
        assertThat(last.get()).contains("done=true").containsPattern("53300/proxy=\\d+");
        assertThat(rssAfter - rss0).as("RSS growth (MB)").isLessThan(256);
        // the primary was never lost for it, and a client of rw_port gets in again once the flood is gone
        assertThat(c.awaitSettled(Duration.ofSeconds(60)).getEpoch()).as("no failover").isEqualTo(epoch);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        SQLException lastError = null;
        while (System.nanoTime() < deadline) {
            Properties props = new Properties();
            props.setProperty("user", c.user(ChaosCluster.Port.RW));
            props.setProperty("password", c.password());
            props.setProperty("loginTimeout", "10");
            try (Connection conn = DriverManager.getConnection(c.rwUrl(0), props)) {
                assertThat(selectOne(conn)).isEqualTo(1);
                lastError = null;
                break;
            } catch (SQLException e) {
                lastError = e;
                Thread.sleep(1_000);
            }
        }
        assertThat((Object) lastError).as("a client of rw_port after the flood").isNull();
        awaitFdsBackTo(fd0);
    }

    @Test
    void plaintextPipelinedAfterAnSslRequestIsRefused() throws Exception {
        try (Raw r = new Raw(c.clientPorts(0).get(0))) {
            byte[] startup = ("\0\3\0\0user\0" + c.user(ChaosCluster.Port.ROUTER) + "\0\0").getBytes(StandardCharsets.UTF_8);
            java.nio.ByteBuffer both = java.nio.ByteBuffer.allocate(12 + startup.length)
                    .putInt(8).putInt(80877103) // SSLRequest, and the StartupMessage in the same write (one segment):
                    .putInt(4 + startup.length).put(startup); // written apart, the proxy may answer 'N' in between
            r.out.write(both.array());
            r.out.flush();
            assertThat(r.error()).startsWith("08P01").contains("unencrypted data after SSL request");
        }
        newClientIsServed();
    }
}

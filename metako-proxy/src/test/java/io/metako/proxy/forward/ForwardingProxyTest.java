package io.metako.proxy.forward;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proxy.routing.RoutingTable;
import io.metako.proxy.routing.WriteLease;
import io.metako.proxy.net.ProxyEventLoops;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The forwarding mechanism against two tiny TCP backends that answer with their own name: a
 * connection follows the table it was opened under and is closed when its backend loses its
 * role. (ForwardingIT proves the same through real PostgreSQL and a real quorum.)
 */
class ForwardingProxyTest {
    private final ProxyEventLoops loops = ProxyEventLoops.create(1);
    private final NamedEcho a = new NamedEcho("A");
    private final NamedEcho b = new NamedEcho("B");
    private final AtomicReference<RoutingTable> table = new AtomicReference<>();
    private ForwardingProxy proxy;

    @AfterAll
    static void noLeaks() throws InterruptedException {
        io.metako.proxy.LeakTracker.assertNoLeaks();
    }

    /** Answers every chunk with its name and the chunk. */
    static final class NamedEcho implements AutoCloseable {
        final ServerSocket server;
        final String name;

        NamedEcho(String name) {
            this.name = name;
            server = io.metako.proxy.TestServers.start(this::serve);
        }

        private void serve(Socket s) {
            try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                byte[] buf = new byte[1024];
                int n;
                while ((n = in.read(buf)) > 0) {
                    out.write((name + ":" + new String(buf, 0, n, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            } catch (IOException ignored) {
                // the proxy closed us
            }
        }

        RoutingTable.Backend backend() {
            return new RoutingTable.Backend(name, "127.0.0.1", server.getLocalPort());
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    @AfterEach
    void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        a.close();
        b.close();
        loops.close();
    }

    private static RoutingTable primary(NamedEcho e, long epoch) {
        return new RoutingTable(epoch, Optional.of(e.backend()), List.of(), true);
    }

    private ForwardingProxy start(ForwardingProxy.Role role, Duration wait) throws InterruptedException {
        proxy = new ForwardingProxy(role, table::get, false, wait, loops).start("127.0.0.1", 0);
        return proxy;
    }

    private static String ask(Socket s, String what) throws IOException {
        s.getOutputStream().write(what.getBytes(StandardCharsets.UTF_8));
        s.getOutputStream().flush();
        byte[] buf = new byte[256];
        int n = s.getInputStream().read(buf);
        return n < 0 ? "<closed>" : new String(buf, 0, n, StandardCharsets.UTF_8);
    }

    @Test
    void aConnectionFollowsThePrimaryItWasOpenedToAndIsClosedWhenItLosesTheRole() throws Exception {
        table.set(primary(a, 1));
        start(ForwardingProxy.Role.PRIMARY, Duration.ofSeconds(2));
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(3000);
            assertThat(ask(s, "hello")).isEqualTo("A:hello");
            table.set(primary(b, 2));
            proxy.onRoutingTable(table.get());
            assertThat(s.getInputStream().read()).as("closed when A stopped being the primary").isEqualTo(-1);
        }
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(3000);
            assertThat(ask(s, "again")).isEqualTo("B:again");
        }
    }

    @Test
    void withoutTheLeaseConnectionsAreClosedAndNewOnesWaitThenGiveUp() throws Exception {
        table.set(primary(a, 1));
        start(ForwardingProxy.Role.PRIMARY, Duration.ofMillis(400));
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(3000);
            assertThat(ask(s, "x")).isEqualTo("A:x");
            table.set(new RoutingTable(1, Optional.of(a.backend()), List.of(), false));
            proxy.onRoutingTable(table.get());
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
        long started = System.nanoTime();
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(3000);
            assertThat(s.getInputStream().read()).as("no primary to forward to").isEqualTo(-1);
        }
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThanOrEqualTo(Duration.ofMillis(350));
    }

    /**
     * The lease is asked for every chunk, not only when a table is published: a lease that ran out
     * (the instance froze, its control thread stalled) closes the connection at its next byte, though
     * the table it was opened under still says writable.
     */
    @Test
    void aLeaseThatRanOutClosesTheConnectionAtItsNextChunkWithNoNewTable() throws Exception {
        WriteLease lease = WriteLease.create();
        lease.renew(1, System.nanoTime(), java.util.concurrent.TimeUnit.SECONDS.toNanos(30));
        table.set(new RoutingTable(1, Optional.of(a.backend()), List.of(), true, lease));
        start(ForwardingProxy.Role.PRIMARY, Duration.ofSeconds(2));
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(3000);
            assertThat(ask(s, "before")).isEqualTo("A:before");
            lease.drop();
            assertThat(ask(s, "after")).as("not passed on to A").isEqualTo("<closed>");
        }
    }

    @Test
    void leastConnectionsSendsTheNextClientToTheLessBusyReplica() throws Exception {
        table.set(new RoutingTable(1, Optional.empty(), List.of(new RoutingTable.Replica(a.backend(), 0, 0, true),
                new RoutingTable.Replica(b.backend(), 0, 0, true)), true));
        proxy = new ForwardingProxy(ForwardingProxy.Role.REPLICA, table::get, true, Duration.ofSeconds(1), loops)
                .start("127.0.0.1", 0);
        try (Socket s1 = new Socket("127.0.0.1", proxy.port()); Socket s2 = new Socket("127.0.0.1", proxy.port());
             Socket s3 = new Socket("127.0.0.1", proxy.port())) {
            for (Socket s : List.of(s1, s2, s3)) {
                s.setSoTimeout(3000);
            }
            String first = ask(s1, "1").substring(0, 1);
            String second = ask(s2, "2").substring(0, 1);
            assertThat(second).as("the idle replica").isNotEqualTo(first);
            s1.close();
            long deadline = System.currentTimeMillis() + 3000;
            while (proxy.connectionsTo(first) > 0 && System.currentTimeMillis() < deadline) {
                Thread.sleep(20);
            }
            assertThat(ask(s3, "3")).as("the replica whose client left").startsWith(first);
        }
    }

    @Test
    void aSilentSocketCostsNoNodeConnectionAndSocketsOverTheLimitAreRefused() throws Exception {
        table.set(primary(a, 1));
        proxy = new ForwardingProxy(ForwardingProxy.Role.PRIMARY, table::get, false, Duration.ofSeconds(2), loops, 2)
                .start("127.0.0.1", 0);
        try (Socket silent = new Socket("127.0.0.1", proxy.port()); Socket talking = new Socket("127.0.0.1", proxy.port())) {
            talking.setSoTimeout(3000);
            assertThat(ask(talking, "hi")).isEqualTo("A:hi");
            assertThat(proxy.connectionsTo("A")).as("only the one that spoke dialled A").isEqualTo(1);
            try (Socket third = new Socket("127.0.0.1", proxy.port())) {
                third.setSoTimeout(3000);
                java.io.DataInputStream in = new java.io.DataInputStream(third.getInputStream());
                assertThat((char) in.readUnsignedByte()).isEqualTo('E');
                byte[] body = new byte[in.readInt() - 4];
                in.readFully(body);
                assertThat(new String(body, StandardCharsets.UTF_8)).contains("53300", "proxy.max_client_connections is 2");
                assertThat(in.read()).isEqualTo(-1);
            }
            silent.setSoTimeout(5000);
            assertThat(silent.getInputStream().read()).as("closed after failover_wait of silence").isEqualTo(-1);
        }
    }

    @Test
    void aConnectionWaitingForAPrimaryGetsTheNewOne() throws Exception {
        table.set(new RoutingTable(2, Optional.empty(), List.of(), true)); // failover in progress
        start(ForwardingProxy.Role.PRIMARY, Duration.ofSeconds(5));
        try (Socket s = new Socket("127.0.0.1", proxy.port())) {
            s.setSoTimeout(5000);
            Thread.sleep(300);
            table.set(primary(b, 2));
            assertThat(ask(s, "late")).isEqualTo("B:late");
        }
    }

    @Test
    void readOnlyPortSpreadsOverReplicasAndDropsOnesThatLeaveTheTable() throws Exception {
        table.set(new RoutingTable(1, Optional.empty(), List.of(new RoutingTable.Replica(a.backend(), 0, 0, true),
                new RoutingTable.Replica(b.backend(), 0, 0, true)), true));
        start(ForwardingProxy.Role.REPLICA, Duration.ofSeconds(1));
        try (Socket s1 = new Socket("127.0.0.1", proxy.port()); Socket s2 = new Socket("127.0.0.1", proxy.port())) {
            s1.setSoTimeout(3000);
            s2.setSoTimeout(3000);
            String first = ask(s1, "1");
            String second = ask(s2, "2");
            assertThat(List.of(first.substring(0, 1), second.substring(0, 1))).containsExactlyInAnyOrder("A", "B");
            table.set(new RoutingTable(1, Optional.empty(), List.of(new RoutingTable.Replica(b.backend(), 0, 0, true)), true));
            proxy.onRoutingTable(table.get());
            Socket onA = first.startsWith("A") ? s1 : s2;
            Socket onB = first.startsWith("A") ? s2 : s1;
            assertThat(onA.getInputStream().read()).isEqualTo(-1);
            assertThat(ask(onB, "still")).isEqualTo("B:still");
        }
    }
}

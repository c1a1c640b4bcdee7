package io.metako.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.metako.proto.v1.MemberRole;
import io.metako.proxy.routing.RoutingTable;
import io.metako.server.config.HostPort;
import io.metako.server.config.HttpConfig;
import io.metako.server.config.Secret;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The HTTP server over real sockets, with a scripted instance behind it. */
class HttpServerTest {
    private final AtomicInteger views = new AtomicInteger();
    private final HttpServer.Backend backend = new HttpServer.Backend() {
        @Override
        public HttpChecks.View view() {
            views.incrementAndGet();
            return new HttpChecks.View("m1", MemberRole.LEADER, "m1", 3, true, 2,
                    new RoutingTable(2, Optional.of(new RoutingTable.Backend("pg-1", "127.0.0.1", 1)), List.of(), true), 1);
        }

        @Override
        public String clusterJson() {
            return "{\"primary\":\"pg-1\"}";
        }

        @Override
        public String historyJson() {
            throw new IllegalStateException("history exploded\nsecond line");
        }
    };
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    private volatile String statusJson = "{\n  \"epoch\": \"1\"\n}";
    private volatile Runnable changeListener;

    /** A backend whose status changes when the test says so, and tells its listener. */
    private final HttpServer.Backend changing = new HttpServer.Backend() {
        @Override
        public HttpChecks.View view() {
            return backend.view();
        }

        @Override
        public String clusterJson() {
            return statusJson;
        }

        @Override
        public String historyJson() {
            return "{\"events\": []}";
        }

        @Override
        public AutoCloseable onChange(Runnable listener) {
            changeListener = listener;
            return () -> changeListener = null;
        }
    };

    @Test
    void theStatusPageIsServedFromTheJarAndEventsFollowTheState() throws Exception {
        try (HttpServer s = new HttpServer(new HostPort("127.0.0.1", 0), HttpConfig.DEFAULT, List.of(), null, changing,
                "test").start()) {
            HttpResponse<String> page = get(s.port(), "/");
            assertThat(page.statusCode()).isEqualTo(200);
            assertThat(page.headers().firstValue("Content-Type")).contains("text/html; charset=utf-8");
            assertThat(page.headers().firstValue("Content-Security-Policy")).hasValueSatisfying(v -> assertThat(v)
                    .contains("default-src 'self'"));
            assertThat(page.body()).contains("<script src=\"status.js\">").doesNotContain("http://", "https://");
            assertThat(get(s.port(), "/status.js").body()).contains("fetch(\"events\"");
            assertThat(get(s.port(), "/status.css").headers().firstValue("Content-Type")).contains("text/css; charset=utf-8");

            try (Socket socket = new Socket("127.0.0.1", s.port())) {
                socket.setSoTimeout(5000);
                socket.getOutputStream().write("GET /events HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
                        StandardCharsets.UTF_8));
                StringBuilder seen = new StringBuilder();
                readUntil(in, seen, "data: {\"events\": []}");
                assertThat(seen.toString()).startsWith("HTTP/1.1 200 OK").contains("text/event-stream", "event: status",
                        "data: {  \"epoch\": \"1\"}", "event: history");
                statusJson = "{\"epoch\": \"2\"}";
                changeListener.run(); // an applied change: pushed at once, not at the next tick
                seen.setLength(0);
                readUntil(in, seen, "data: {\"epoch\": \"2\"}");
                assertThat(seen.toString()).as("unchanged: not sent again").doesNotContain("event: history");
            }
        }
    }

    private static void readUntil(java.io.BufferedReader in, StringBuilder seen, String wanted) throws Exception {
        String line;
        while ((line = in.readLine()) != null) {
            seen.append(line).append('\n');
            if (line.contains(wanted)) {
                return;
            }
        }
        throw new AssertionError("the stream ended before '" + wanted + "': " + seen);
    }

    private HttpServer start(int port, HttpConfig config) throws Exception {
        return new HttpServer(new HostPort("127.0.0.1", port), config, List.of(Secret.of("read-token-0123456789")),
                null, backend, "test").start();
    }

    private HttpResponse<String> get(int port, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void answersChecksAndJsonAndClosesKeptConnectionsWhenItStops() throws Exception {
        int port;
        Socket kept = null;
        try (HttpServer s = start(0, HttpConfig.DEFAULT)) {
            port = s.port();
            assertThat(get(port, "/leader").statusCode()).isEqualTo(200);
            assertThat(get(port, "/replica").statusCode()).isEqualTo(503);
            HttpResponse<String> cluster = get(port, "/cluster");
            assertThat(cluster.body()).isEqualTo("{\"primary\":\"pg-1\"}");
            assertThat(cluster.headers().firstValue("Content-Type")).contains("application/json; charset=utf-8");
            HttpResponse<String> broken = get(port, "/history");
            assertThat(broken.statusCode()).isEqualTo(500);
            assertThat(broken.body()).contains("history exploded").doesNotContain("second line");

            kept = new Socket("127.0.0.1", port);
            kept.setSoTimeout(5000);
            kept.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(kept.getInputStream().read(new byte[4096])).isPositive();
        }
        try (Socket k = kept) {
            // a kept-alive connection left open by a stopped server hangs the client that reuses it (the JDK's
            // HttpClient waited out its timeout on every other restart before this was closed explicitly)
            assertThat(k.getInputStream().read()).as("closed by the stop").isEqualTo(-1);
        }
        try (HttpServer s = start(port, HttpConfig.DEFAULT)) {
            for (int i = 0; i < 3; i++) {
                assertThat(get(port, "/health").statusCode()).isEqualTo(200);
            }
        }
    }

    @Test
    void theTokenIsAskedOnlyOutsideTheOpenGroups() throws Exception {
        try (HttpServer s = start(0, new HttpConfig(true, Set.of("health")))) {
            assertThat(get(s.port(), "/primary").statusCode()).isEqualTo(200);
            assertThat(get(s.port(), "/cluster").statusCode()).isEqualTo(401);
            HttpResponse<String> ok = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
                    + "/cluster")).header("Authorization", "Bearer read-token-0123456789").build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(ok.statusCode()).isEqualTo(200);
        }
    }

    @Test
    void badPercentEncodingIsABadRequestAndTheBearerSchemeIsCaseInsensitive() throws Exception {
        try (HttpServer s = start(0, new HttpConfig(true, Set.of("health")))) {
            for (String path : List.of("/%zz", "/replica?lag=%zz", "/health%")) {
                try (Socket socket = new Socket("127.0.0.1", s.port())) {
                    socket.setSoTimeout(5000);
                    socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
                    String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
                    assertThat(answer).as(path).startsWith("HTTP/1.1 400").contains("percent-encoding");
                }
            }
            HttpResponse<String> lower = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port()
                    + "/cluster")).header("Authorization", "bearer read-token-0123456789").build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(lower.statusCode()).isEqualTo(200);
        }
    }

    @Test
    void oneClientCannotHoldEveryConnection() throws Exception {
        try (HttpServer s = start(0, HttpConfig.DEFAULT)) {
            List<Socket> held = new java.util.ArrayList<>();
            try {
                for (int i = 0; i < 32; i++) {
                    held.add(new Socket("127.0.0.1", s.port()));
                }
                try (Socket extra = new Socket("127.0.0.1", s.port())) {
                    extra.setSoTimeout(5000);
                    assertThat(extra.getInputStream().read()).as("the 33rd from one address is closed").isEqualTo(-1);
                }
                // from another loopback address: served
                try (Socket other = new Socket()) {
                    other.bind(new java.net.InetSocketAddress("127.0.0.2", 0));
                    other.connect(new java.net.InetSocketAddress("127.0.0.1", s.port()));
                    other.setSoTimeout(5000);
                    other.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                    assertThat(new String(other.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1))
                            .startsWith("HTTP/1.1 200");
                }
            } finally {
                for (Socket h : held) {
                    h.close();
                }
            }
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
                    assertThat(get(s.port(), "/health").statusCode()).isEqualTo(200));
        }
    }

    @Test
    void garbageAndOversizedRequestsAreRefusedAndTheServerGoesOn() throws Exception {
        try (HttpServer s = start(0, HttpConfig.DEFAULT)) {
            for (String junk : List.of("\u0000\u0001\u0002 nonsense\r\n\r\n", "GET /" + "x".repeat(20_000) + " HTTP/1.1\r\n\r\n",
                    "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "y".repeat(20_000) + "\r\n\r\n")) {
                try (Socket socket = new Socket("127.0.0.1", s.port())) {
                    socket.setSoTimeout(5000);
                    OutputStream out = socket.getOutputStream();
                    out.write(junk.getBytes(StandardCharsets.ISO_8859_1));
                    out.flush();
                    InputStream in = socket.getInputStream();
                    String answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                    assertThat(answer).as("answer to %s...", junk.substring(0, 12)).startsWith("HTTP/1.1 4");
                }
            }
            assertThat(get(s.port(), "/health").statusCode()).isEqualTo(200);
        }
    }
}

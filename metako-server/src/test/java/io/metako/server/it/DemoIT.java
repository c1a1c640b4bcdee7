package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;
import io.metako.proto.v1.ClusterStatus;
import io.metako.proto.v1.MajorityHealth;
import io.metako.proto.v1.NodeStatus;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Runs {@code bin/metako demo} as a user would, asks it through {@code bin/metakoctl}, stops it with SIGTERM. */
class DemoIT {
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();

    @Test
    @Timeout(value = 480, unit = TimeUnit.SECONDS)
    void demoStartsReportsThroughMetakoctlAndLeavesNothingBehindThenStartsAgainAsItWasLeft() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "metako-demo-it-");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.delete(dir); // the demo wants a new folder
        Process demo = demo(dir);
        List<String> output = new ArrayList<>();
        List<ProcessHandle> started = new ArrayList<>();
        ClusterStatus healed = null;
        String grpc;
        String token;
        String ca;
        String dsn;
        try {
            assertThat(awaitLine(demo, output, "pg-metako demo is ready", 240)).as(String.join("\n", output)).isTrue();
            assertThat(output).anyMatch(l -> l.contains("[1] preparing")).anyMatch(l -> l.contains("psql \"host=127.0.0.1"))
                    .anyMatch(l -> l.contains("bin/metakoctl status"));

            Struct endpoints = parseStruct(Files.readString(dir.resolve("endpoints.json")));
            List<Value> instances = endpoints.getFieldsOrThrow("instances").getListValue().getValuesList();
            List<Value> nodes = endpoints.getFieldsOrThrow("nodes").getListValue().getValuesList();
            assertThat(instances).hasSize(3);
            assertThat(nodes).hasSize(3);
            for (Value i : instances) {
                Map<String, Value> f = i.getStructValue().getFieldsMap();
                assertThat(f.keySet()).contains("id", "grpc", "http", "proxy", "rw", "ro", "dsn");
                assertThat(f.get("dsn").getStringValue()).contains("host=127.0.0.1").contains("port=");
            }
            grpc = instances.stream().map(i -> i.getStructValue().getFieldsOrThrow("grpc").getStringValue())
                    .collect(Collectors.joining(","));

            started.addAll(demo.descendants().toList());
            for (Value n : nodes) {
                Path data = Path.of(n.getStructValue().getFieldsOrThrow("data_dir").getStringValue());
                postmasterOf(data).ifPresent(started::add);
            }
            assertThat(started).as("3 instance JVMs and 3 postmasters").hasSizeGreaterThanOrEqualTo(6);

            token = Files.readString(dir.resolve("token")).trim();
            ca = endpoints.getFieldsOrThrow("ca_file").getStringValue();
            assertThat(Path.of(ca)).as("the demo runs with TLS on: its cluster CA").exists();
            Process plaintext = metakoctl(grpc, token, null, "status");
            String plaintextErr = new String(plaintext.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(plaintext.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(plaintext.exitValue()).as(plaintextErr).isNotZero();
            assertThat(plaintextErr).as("metakoctl without --cacert against the TLS admin API says what to do")
                    .contains("--cacert");
            Process ctl = metakoctl(grpc, token, ca, "-o", "json", "status");
            String json;
            json = new String(ctl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(ctl.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(ctl.exitValue()).as(json).isZero();
            ClusterStatus.Builder status = ClusterStatus.newBuilder();
            JsonFormat.parser().merge(json, status);
            assertThat(status.getEpoch()).isEqualTo(1);
            assertThat(status.getPrimary()).isEqualTo("pg-1");
            assertThat(status.getLeaderId()).isNotEmpty();
            assertThat(status.getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);

            // the HTTP health check the demo prints answers on every instance
            assertThat(output).anyMatch(l -> l.contains("curl -s http://127.0.0.1:") && l.contains("/primary"));
            java.net.http.HttpClient web = java.net.http.HttpClient.newHttpClient();
            for (Value i : instances) {
                String httpAddress = i.getStructValue().getFieldsOrThrow("http").getStringValue();
                java.net.http.HttpResponse<String> check = web.send(java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://" + httpAddress + "/primary")).timeout(java.time.Duration.ofSeconds(5))
                        .build(), java.net.http.HttpResponse.BodyHandlers.ofString());
                assertThat(check.statusCode()).as(check.body()).isEqualTo(200);
                assertThat(check.body()).contains("\"primary\":\"pg-1\"");
            }

            // the instances' JSON logs: every line, from any thread, names its instance, epoch and term; the status
            // report comes every logging.status_interval (10 s in the demo)
            Path log1 = dir.resolve("metako-1.log");
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(40)).untilAsserted(() -> {
                List<Struct> lines = new ArrayList<>();
                for (String l : Files.readAllLines(log1)) {
                    if (l.startsWith("{")) {
                        lines.add(parseStruct(l));
                    }
                }
                assertThat(lines).anySatisfy(l -> assertThat(l.getFieldsOrThrow("thread").getStringValue()).contains("health"));
                assertThat(lines).allSatisfy(l -> assertThat(l.getFieldsOrThrow("instance").getStringValue())
                        .as(l.toString()).isEqualTo("metako-1"));
                Struct report = lines.stream().filter(l -> l.containsFields("report")).reduce((a, b) -> b).orElseThrow(
                        () -> new AssertionError("no status report in " + log1 + " yet"));
                assertThat(report.getFieldsOrThrow("msg").getStringValue()).startsWith("status: primary pg-1, epoch 1,");
                assertThat(report.getFieldsOrThrow("epoch").getStringValue()).isEqualTo("1");
                assertThat(Long.parseLong(report.getFieldsOrThrow("term").getStringValue())).isPositive();
                assertThat(report.getFieldsOrThrow("nodes").getStructValue().getFieldsOrThrow("pg-2").getStructValue()
                        .getFieldsOrThrow("health").getStringValue()).isEqualTo("healthy");
            });

            // SIGHUP makes an instance process read its file again: a valid change applies, a broken file is refused
            // and the process goes on
            Path config1 = dir.resolve("metako-1.yaml");
            String yaml1 = Files.readString(config1);
            String logging = "logging:\n  status_interval: 10s";
            assertThat(yaml1).contains(logging);
            ProcessHandle instance1 = demo.descendants().filter(p -> commandLine(p).contains(config1.getFileName().toString()))
                    .findFirst().orElseThrow(() -> new AssertionError("no metako-1 process among "
                            + demo.descendants().map(DemoIT::commandLine).toList()));
            Files.writeString(config1, yaml1.replace(logging, logging + "\n  level: debug"));
            new ProcessBuilder("kill", "-HUP", Long.toString(instance1.pid())).start().waitFor(10, TimeUnit.SECONDS);
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(20)).untilAsserted(() ->
                    assertThat(Files.readString(log1)).contains("configuration reloaded from ", "metako-1.yaml: 1 applied",
                            "\"applied\":\"[logging.level]\"", "\"msg\":\"log level DEBUG\""));
            Files.writeString(config1, yaml1.replace(logging, logging + "\n  level: loud"));
            new ProcessBuilder("kill", "-HUP", Long.toString(instance1.pid())).start().waitFor(10, TimeUnit.SECONDS);
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(20)).untilAsserted(() ->
                    assertThat(Files.readString(log1)).contains("reload refused, the running configuration stays",
                            "logging.level: must be one of error, warn, info, debug, trace, got 'loud'"));
            Files.writeString(config1, yaml1);
            assertThat(instance1.isAlive()).as("metako-1 after a refused reload").isTrue();
            new ProcessBuilder("kill", "-HUP", Long.toString(instance1.pid())).start().waitFor(10, TimeUnit.SECONDS);
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(20)).untilAsserted(() ->
                    assertThat(Files.readString(log1)).as("back to the configured level").contains("\"msg\":\"log level INFO\""));

            // psql through the first instance's rw port reaches the primary
            String rw = instances.get(0).getStructValue().getFieldsOrThrow("rw").getStringValue();
            Process psql = new ProcessBuilder("psql", "host=127.0.0.1 port=" + rw.substring(rw.lastIndexOf(':') + 1)
                    + " dbname=postgres user=postgres passfile=" + dir.resolve("pgpass"), "-XAtc",
                    "SELECT pg_is_in_recovery(), inet_server_port()").redirectErrorStream(true).start();
            String psqlOut = new String(psql.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertThat(psql.waitFor(30, TimeUnit.SECONDS)).isTrue();
            int pg1 = (int) nodes.get(0).getStructValue().getFieldsOrThrow("port").getNumberValue();
            assertThat(psqlOut).as("psql through rw").isEqualTo("f|" + pg1);

            // psql through the statement router (the dsn printed for scripts): reads on a replica, writes on the primary
            dsn = instances.get(1).getStructValue().getFieldsOrThrow("dsn").getStringValue();
            Process routed = new ProcessBuilder("psql", dsn, "-XAt", "-c", "SELECT pg_is_in_recovery()", "-c",
                    "CREATE TABLE demo_it (x int)", "-c", "INSERT INTO demo_it VALUES (1) RETURNING inet_server_port()")
                    .redirectErrorStream(true).start();
            String routedOut = new String(routed.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertThat(routed.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(routedOut.lines().toList()).as("psql through the statement router")
                    .containsExactly("t", "CREATE TABLE", Integer.toString(pg1), "INSERT 0 1");

            // kill -9 of the primary, as the README's tour does: it fails over, and pg-1's instance brings it back
            Path pg1Data = Path.of(nodes.get(0).getStructValue().getFieldsOrThrow("data_dir").getStringValue());
            postmasterOf(pg1Data).orElseThrow().destroyForcibly();
            long until = System.currentTimeMillis() + 90_000;
            while (System.currentTimeMillis() < until) {
                Process poll = metakoctl(grpc, token, ca, "-o", "json", "status");
                String out = new String(poll.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (poll.waitFor(60, TimeUnit.SECONDS) && poll.exitValue() == 0) {
                    ClusterStatus.Builder b = ClusterStatus.newBuilder();
                    JsonFormat.parser().merge(out, b);
                    NodeStatus first = b.getNodesList().stream().filter(n -> n.getNode().getName().equals("pg-1"))
                            .findFirst().orElseThrow();
                    if (b.getEpoch() >= 2 && first.getNode().getRole() == io.metako.proto.v1.NodeRole.REPLICA) {
                        healed = b.build();
                        break;
                    }
                }
                Thread.sleep(500);
            }
            assertThat(healed).as("pg-1 failed over and rejoined as a replica in the demo (TLS, signed commands)").isNotNull();
            assertThat(healed.getPrimary()).isIn("pg-2", "pg-3");
            postmasterOf(pg1Data).ifPresent(started::add);

            Process wrong = metakoctl(grpc, "a-wrong-token-of-enough-length", ca, "status");
            assertThat(wrong.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(wrong.exitValue()).isEqualTo(4);
        } finally {
            demo.toHandle().destroy(); // SIGTERM, as Ctrl-C would (Process.destroy would also close our pipes)
            boolean exited = demo.waitFor(90, TimeUnit.SECONDS);
            if (!exited) {
                demo.descendants().forEach(ProcessHandle::destroyForcibly);
                demo.destroyForcibly();
            }
            assertThat(exited).as("the demo exits on SIGTERM").isTrue();
        }
        awaitLine(demo, output, "demo stopped", 5);
        assertThat(output).anyMatch(l -> l.contains("demo stopped"));
        long deadline = System.currentTimeMillis() + 10_000;
        while (started.stream().anyMatch(ProcessHandle::isAlive) && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        assertThat(started.stream().filter(ProcessHandle::isAlive).map(p -> p.pid() + " " + p.info().commandLine().orElse("")))
                .as("processes left behind").isEmpty();
        assertThat(ProcessHandle.allProcesses().filter(p -> p.info().commandLine().orElse("").contains(dir.toString())))
                .as("no process mentions the demo folder").isEmpty();

        // the same folder again (deploy/deploy.sh stop, then start): the cluster as it was left, pg-1 a replica now
        ClusterStatus atStop = healed;
        Process again = demo(dir);
        List<String> againOutput = new ArrayList<>();
        started.clear();
        try {
            assertThat(awaitLine(again, againOutput, "pg-metako demo is ready", 240)).as(String.join("\n", againOutput)).isTrue();
            assertThat(againOutput).anyMatch(l -> l.contains("resuming the demo stopped in " + dir))
                    .noneMatch(l -> l.contains("initdb")).anyMatch(l -> l.contains("pg-1: started (a replica)"));
            started.addAll(again.descendants().toList());
            Process second = demo(dir);
            String secondOut = new String(second.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(second.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(second.exitValue()).as(secondOut).isEqualTo(1);
            assertThat(secondOut).contains("a demo is running in " + dir + " already");

            Process ctl = metakoctl(grpc, token, ca, "-o", "json", "status");
            String json = new String(ctl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(ctl.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(ctl.exitValue()).as(json).isZero();
            ClusterStatus.Builder resumed = ClusterStatus.newBuilder();
            JsonFormat.parser().merge(json, resumed);
            assertThat(resumed.getPrimary()).as("the primary when it stopped").isEqualTo(atStop.getPrimary());
            assertThat(resumed.getEpoch()).isGreaterThanOrEqualTo(atStop.getEpoch());
            assertThat(resumed.getNodesList()).extracting(NodeStatus::getHealth).containsOnly(MajorityHealth.HEALTHY);
            for (NodeStatus n : resumed.getNodesList()) {
                postmasterOf(Path.of(dir.toString(), n.getNode().getName(), "data")).ifPresent(started::add);
            }
            Process routed = new ProcessBuilder("psql", dsn, "-XAt", "-c", "SELECT count(*) FROM demo_it")
                    .redirectErrorStream(true).start();
            String routedOut = new String(routed.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertThat(routed.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(routedOut).as("the row written before the stop, through the router").isEqualTo("1");
            // the primary started read-only (it was one when stopped); the leader lifts that since the log names it
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).untilAsserted(() -> {
                Process write = new ProcessBuilder("psql", dsn, "-XAt", "-c", "INSERT INTO demo_it VALUES (2)")
                        .redirectErrorStream(true).start();
                String writeOut = new String(write.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                assertThat(write.waitFor(30, TimeUnit.SECONDS)).isTrue();
                assertThat(writeOut).as("a write after the resume").isEqualTo("INSERT 0 1");
            });
        } finally {
            again.toHandle().destroy();
            boolean exited = again.waitFor(90, TimeUnit.SECONDS);
            if (!exited) {
                again.descendants().forEach(ProcessHandle::destroyForcibly);
                again.destroyForcibly();
            }
            assertThat(exited).as("the resumed demo exits on SIGTERM").isTrue();
        }
        deadline = System.currentTimeMillis() + 10_000;
        while (started.stream().anyMatch(ProcessHandle::isAlive) && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        assertThat(started.stream().filter(ProcessHandle::isAlive).map(p -> p.pid() + " " + p.info().commandLine().orElse("")))
                .as("processes left behind by the resumed demo").isEmpty();
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** {@code bin/metako demo --dir DIR}, output and errors in one stream. */
    private static Process demo(Path dir) throws IOException {
        ProcessBuilder demoBuilder = new ProcessBuilder(REPO.resolve("bin/metako").toString(), "demo", "--dir", dir.toString())
                .directory(REPO.toFile()).redirectErrorStream(true);
        demoBuilder.environment().put("METAKO_NO_BUILD", "1"); // Maven built it; never rebuild under the running tests
        Process p = demoBuilder.start();
        p.getOutputStream().close();
        return p;
    }

    /** A process's whole command line, from /proc (ProcessHandle.Info may leave it out). */
    private static String commandLine(ProcessHandle p) {
        try {
            return Files.readString(Path.of("/proc/" + p.pid() + "/cmdline")).replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    /** {@code bin/metakoctl args} with the endpoints, the token and the CA ({@code METAKO_CACERT}; none if null). */
    private static Process metakoctl(String endpoints, String token, String ca, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(REPO.resolve("bin/metakoctl").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(REPO.toFile());
        if (ca != null) {
            pb.redirectError(ProcessBuilder.Redirect.INHERIT);
            pb.environment().put("METAKO_CACERT", ca);
        } else {
            pb.environment().remove("METAKO_CACERT");
        }
        pb.environment().put("METAKO_NO_BUILD", "1");
        pb.environment().put("METAKO_ENDPOINTS", endpoints);
        pb.environment().put("METAKO_TOKEN", token);
        Process p = pb.start();
        p.getOutputStream().close();
        return p;
    }

    private static Optional<ProcessHandle> postmasterOf(Path dataDir) throws IOException {
        Path pid = dataDir.resolve("postmaster.pid");
        if (!Files.exists(pid)) {
            return Optional.empty();
        }
        return ProcessHandle.of(Long.parseLong(Files.readAllLines(pid).get(0).trim()));
    }

    private static Struct parseStruct(String json) throws IOException {
        Struct.Builder b = Struct.newBuilder();
        JsonFormat.parser().merge(json, b);
        return b.build();
    }

    /** Reads the demo's output into {@code output} until a line contains {@code marker}. */
    private static boolean awaitLine(Process p, List<String> output, String marker, int seconds) throws Exception {
        CompletableFuture<Boolean> found = CompletableFuture.supplyAsync(() -> {
            try {
                BufferedReader r = readerOf(p);
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (output) {
                        output.add(line);
                    }
                    System.out.println("[demo] " + line);
                    if (line.contains(marker)) {
                        return true;
                    }
                }
                return false;
            } catch (IOException e) {
                return false;
            }
        });
        try {
            return found.get(seconds, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        }
    }

    private static final Map<Process, BufferedReader> READERS = new java.util.concurrent.ConcurrentHashMap<>();

    private static BufferedReader readerOf(Process p) {
        return READERS.computeIfAbsent(p, k -> new BufferedReader(new InputStreamReader(k.getInputStream(), StandardCharsets.UTF_8)));
    }
}

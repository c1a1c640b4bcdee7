package io.metako.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The release archive as an operator gets it: unpacked in an empty folder, away from the source tree and Maven, its
 * launchers run a real local cluster (the demo: PostgreSQL and three instances) and operate it.
 */
class ReleaseArchiveIT {
    private static final Path TARGET = Path.of(System.getProperty("user.dir"), "target");
    private Path unpacked;
    private Path home;

    @BeforeEach
    void unpack() throws Exception {
        Path archive;
        try (Stream<Path> files = Files.list(TARGET)) {
            archive = files.filter(f -> f.getFileName().toString().matches("metako-.*\\.tar\\.gz")).findFirst()
                    .orElseThrow(() -> new AssertionError("no metako-VERSION.tar.gz in " + TARGET + " (mvn package makes it)"));
        }
        unpacked = Files.createTempDirectory(Path.of("/tmp"), "metako-release-it-");
        Files.setPosixFilePermissions(unpacked, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        assertThat(run(List.of("tar", "-C", unpacked.toString(), "-xzf", archive.toString()), 60).exit()).isZero();
        try (Stream<Path> top = Files.list(unpacked)) {
            home = top.findFirst().orElseThrow();
        }
        String name = archive.getFileName().toString();
        assertThat(home.getFileName().toString()).as("one folder named as the archive")
                .isEqualTo(name.substring(0, name.length() - ".tar.gz".length()));
    }

    @AfterEach
    void remove() throws Exception {
        if (unpacked != null) {
            run(List.of("rm", "-rf", unpacked.toString()), 60);
        }
    }

    @Test
    void holdsLaunchersThatNeverBuildTheJarsAndTheDeployFiles() throws Exception {
        for (String launcher : List.of("bin/metako", "bin/metakoctl")) {
            Path p = home.resolve(launcher);
            assertThat(Files.getPosixFilePermissions(p)).contains(PosixFilePermission.OWNER_EXECUTE,
                    PosixFilePermission.OTHERS_EXECUTE);
            assertThat(Files.readString(p)).as(launcher).doesNotContain("mvn").doesNotContain("ensure-built");
        }
        try (Stream<Path> lib = Files.list(home.resolve("lib"))) {
            List<String> jars = lib.map(j -> j.getFileName().toString()).toList();
            assertThat(jars).anyMatch(j -> j.startsWith("metako-server-")).anyMatch(j -> j.startsWith("metako-client-"))
                    .anyMatch(j -> j.startsWith("metako-proxy-")).anyMatch(j -> j.startsWith("ratis-server-"))
                    .anyMatch(j -> j.startsWith("postgresql-")).allMatch(j -> j.endsWith(".jar"))
                    .noneMatch(j -> j.startsWith("junit") || j.startsWith("assertj") || j.contains("selenium"));
        }
        assertThat(home.resolve("configs/metako-1.yaml")).exists();
        assertThat(home.resolve("deploy/metako@.service")).exists();
        assertThat(Files.getPosixFilePermissions(home.resolve("deploy/certs.sh"))).contains(PosixFilePermission.OWNER_EXECUTE);
        assertThat(home.resolve("LICENSE")).exists();
        String install = Files.readString(home.resolve("INSTALL"));
        assertThat(install).contains(home.getFileName().toString() + ".tar.gz").doesNotContain("${");
        try (Stream<Path> all = Files.walk(home)) {
            assertThat(all.map(f -> f.getFileName().toString())).as("no sources, no build files, no secrets")
                    .noneMatch(f -> f.endsWith(".java") || f.equals("pom.xml") || f.endsWith(".proto") || f.equals(".env"));
        }
        Result help = run(List.of(home.resolve("bin/metako").toString(), "--help"), 60);
        assertThat(help.exit()).as(help.output()).isZero();
        assertThat(help.output()).contains("--join").contains("--check");
        Result ctlHelp = run(List.of(home.resolve("bin/metakoctl").toString(), "members", "--help"), 60);
        assertThat(ctlHelp.exit()).as(ctlHelp.output()).isZero();
        assertThat(ctlHelp.output()).contains("add").contains("remove");
        Result version = run(List.of(home.resolve("bin/metako").toString(), "--version"), 60);
        assertThat(version.exit()).as(version.output()).isZero();
    }

    /**
     * The systemd units, pointed at this unpacked archive, pass {@code systemd-analyze verify}: no unknown key, no
     * bad value, launchers that exist and run.
     */
    @Test
    void theSystemdUnitsVerify() throws Exception {
        Path analyze = Path.of("/usr/bin/systemd-analyze");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(analyze),
                "systemd-analyze is not installed (apt-get install systemd): the units are not verified here");
        Path units = unpacked.resolve("units");
        Files.createDirectories(units);
        for (String unit : List.of("metako@.service", "metako-managed@.service")) {
            String text = Files.readString(home.resolve("deploy").resolve(unit)).replace("/opt/pg-metako", home.toString());
            Path copy = units.resolve(unit.replace("@", "@metako-1"));
            Files.writeString(copy, text);
            Result verify = run(List.of(analyze.toString(), "verify", copy.toString()), 60);
            List<String> problems = verify.output().lines()
                    .filter(l -> !l.isBlank() && !l.contains("ordering cycle") && !l.startsWith("Unit network-online"))
                    .toList();
            assertThat(problems).as(unit + ": " + verify.output()).isEmpty();
            assertThat(text).contains("User=").contains("ExecReload=").contains("NoNewPrivileges=true")
                    .contains("ProtectSystem=strict").contains("LimitNOFILE=").contains("--check");
        }
    }

    @Test
    void runsTheDemoClusterAndOperatesIt() throws Exception {
        Path dir = unpacked.resolve("demo");
        ProcessBuilder b = new ProcessBuilder(home.resolve("bin/metako").toString(), "demo", "--dir", dir.toString())
                .redirectErrorStream(true).directory(unpacked.toFile());
        Process demo = b.start();
        List<String> output = Collections.synchronizedList(new ArrayList<>());
        List<ProcessHandle> started = new ArrayList<>();
        try {
            assertThat(awaitLine(demo, output, "pg-metako demo is ready", 240)).as(String.join("\n", output)).isTrue();
            started.addAll(demo.descendants().toList());
            String token = Files.readString(dir.resolve("token")).trim();
            String endpoints = Files.readString(dir.resolve("endpoints.json"));
            java.util.regex.Matcher grpc = java.util.regex.Pattern.compile("\"grpc\"\\s*:\\s*\"([^\"]+)\"").matcher(endpoints);
            java.util.regex.Matcher ca = java.util.regex.Pattern.compile("\"ca_file\"\\s*:\\s*\"([^\"]+)\"").matcher(endpoints);
            assertThat(grpc.find()).as(endpoints).isTrue();
            List<String> cmd = new ArrayList<>(List.of(home.resolve("bin/metakoctl").toString(), "--endpoints", grpc.group(1),
                    "--token", token));
            if (ca.find()) {
                cmd.addAll(List.of("--cacert", ca.group(1)));
            }
            cmd.add("members");
            Result members = run(cmd, 60);
            assertThat(members.exit()).as(members.output()).isZero();
            assertThat(members.output()).contains("LEADER").contains("voter");
        } finally {
            demo.destroy(); // SIGTERM: the demo stops its instances and PostgreSQL
            boolean exited = demo.waitFor(60, TimeUnit.SECONDS);
            if (!exited) {
                demo.destroyForcibly();
            }
            for (ProcessHandle p : started) {
                p.destroyForcibly();
            }
            assertThat(exited).as("the demo stops on SIGTERM").isTrue();
        }
        assertThat(started.stream().filter(ProcessHandle::isAlive)).as("nothing left running").isEmpty();
    }

    private record Result(int exit, String output) {
    }

    private static Result run(List<String> cmd, int seconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(cmd + " did not end within " + seconds + " s");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    private static boolean awaitLine(Process p, List<String> output, String text, int seconds) throws InterruptedException {
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    output.add(line);
                }
            } catch (IOException ignored) {
                // the process ended
            }
        }, "demo-output");
        reader.setDaemon(true);
        reader.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            synchronized (output) {
                if (output.stream().anyMatch(l -> l.contains(text))) {
                    return true;
                }
            }
            if (!p.isAlive()) {
                return false;
            }
            Thread.sleep(100);
        }
        return false;
    }
}

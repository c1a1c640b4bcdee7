package io.metako.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.testcontainers.DockerClientFactory;

/**
 * {@code deploy/deploy.sh --docker} as an operator runs it: setup (image and secrets), start (three containers of
 * compose.yaml, how to connect), a write through a published router port, restart and stop then start keep the
 * data, status answers, cleanup removes the containers and the volumes.
 */
class DockerStackIT {
    private static final Path REPO = Path.of(System.getProperty("user.dir")).getParent();
    private static final Path ENV = REPO.resolve("deploy/docker/.env");

    @AfterEach
    void cleanup() throws Exception {
        if (Files.exists(ENV)) {
            // what the containers said, for a failed run (cleanup removes them)
            Result logs = run(List.of("bash", "-c", "docker ps -a --format '{{.Names}} {{.Status}}'; for c in $(docker ps -aq"
                    + " --filter name=pg-metako_); do echo \"---- $c\"; docker logs --tail 40 $c 2>&1; done"), 60);
            System.out.println("[stack] containers before cleanup:\n" + logs.output());
            deploy(120, "cleanup");
            Files.deleteIfExists(ENV);
        }
    }

    @Test
    void setupStartRestartStopStartStatusCleanupKeepDataUntilCleanup() throws Exception {
        Assumptions.assumeTrue(DockerClientFactory.instance().isDockerAvailable(), "no Docker engine answers");
        Assumptions.assumeTrue(run(List.of("bash", "-c", "docker compose version || docker-compose version"), 30).exit() == 0,
                "no docker compose (apt-get install docker-compose; .ci/run installs it)");
        assertThat(Files.exists(ENV)).as("a .env left by someone: this test would use and then delete it").isFalse();
        Result setup = deploy(600, "setup");
        assertThat(setup.exit()).as(setup.output()).isZero();
        assertThat(setup.output()).contains("wrote").contains("image pg-metako:");
        // "image pg-metako:VERSION, 315MB": a guard against the image growing back (987 MB before jlink, no JIT)
        java.util.regex.Matcher size = java.util.regex.Pattern.compile("image pg-metako:\\S+, ([0-9.]+)(MB|GB)").matcher(setup.output());
        assertThat(size.find()).as(setup.output()).isTrue();
        double megabytes = Double.parseDouble(size.group(1)) * (size.group(2).equals("GB") ? 1000 : 1);
        System.out.println("[stack] image size " + megabytes + " MB");
        assertThat(megabytes).as("image size in MB (docs/operations.md says what is in it)").isLessThan(400);
        String env = Files.readString(ENV);
        assertThat(Files.getPosixFilePermissions(ENV)).as("secrets").hasSize(2); // rw for the owner only
        String appPassword = env.lines().filter(l -> l.startsWith("APP_PASSWORD=")).findFirst().orElseThrow()
                .substring("APP_PASSWORD=".length());

        Result start = deploy(300, "start");
        assertThat(start.exit()).as(start.output()).isZero();
        assertThat(start.output()).contains("primary pg-1").contains("psql \"host=127.0.0.1 port=11432");
        try (Connection c = connect(12432, appPassword)) {
            c.createStatement().execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1), (2), (3)");
        }
        Result restart = deploy(300, "restart");
        assertThat(restart.exit()).as(restart.output()).isZero();
        assertThat(deploy(120, "stop").exit()).isZero();
        Result again = deploy(300, "start");
        assertThat(again.exit()).as(again.output()).isZero();
        assertThat(count(13432, appPassword)).as("the data after restart, stop and start").isEqualTo(3);
        Result status = deploy(60, "status");
        assertThat(status.exit()).as(status.output()).isZero();
        assertThat(status.output()).contains("pg-1").contains("pg-2").contains("pg-3");

        assertThat(deploy(120, "cleanup").exit()).isZero();
        Result volumes = run(List.of("docker", "volume", "ls", "-q", "--filter", "name=pg-metako_"), 30);
        assertThat(volumes.output().trim()).as("cleanup deletes the volumes").isEmpty();
        Files.deleteIfExists(ENV);
    }

    private static Connection connect(int port, String password) throws Exception {
        java.util.Properties p = new java.util.Properties();
        p.setProperty("user", "app");
        p.setProperty("password", password);
        p.setProperty("connectTimeout", "10");
        return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/app", p);
    }

    private static int count(int port, String password) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try (Connection c = connect(port, password);
                 ResultSet rs = c.createStatement().executeQuery("/* metako:primary */ SELECT count(*) FROM kept")) {
                rs.next();
                return rs.getInt(1);
            } catch (java.sql.SQLException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(500);
            }
        }
    }

    private record Result(int exit, String output) {
    }

    private static Result deploy(int seconds, String... verb) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(REPO.resolve("deploy/deploy.sh").toString(), "--docker"));
        cmd.addAll(List.of(verb));
        return run(cmd, seconds);
    }

    private static Result run(List<String> cmd, int seconds) throws Exception {
        ProcessBuilder b = new ProcessBuilder(cmd).redirectErrorStream(true).directory(REPO.toFile());
        b.environment().put("METAKO_NO_BUILD", "1"); // bin/metakoctl: Maven built it; never rebuild under the tests
        Path out = Files.createTempFile("deploy-", ".out");
        b.redirectOutput(out.toFile());
        Process p = b.start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(cmd + " did not end within " + seconds + " s: " + Files.readString(out));
        }
        String output = Files.readString(out, StandardCharsets.UTF_8);
        Files.delete(out);
        return new Result(p.exitValue(), output);
    }
}

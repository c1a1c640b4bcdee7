package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code deploy/deploy.sh} without {@code --docker}, as an operator runs it: start creates the local stack, restart
 * and stop then start keep its data (each start runs the same cluster again), cleanup deletes it.
 */
class DeployScriptIT {
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private Path dir;

    @AfterEach
    void cleanup() throws Exception {
        if (dir != null && Files.exists(dir)) {
            deploy(120, "cleanup");
        }
    }

    @Test
    @Timeout(value = 600, unit = TimeUnit.SECONDS)
    void startRestartStopStartKeepTheDataAndCleanupDeletesIt() throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "metako-deploy-it-");
        Files.delete(dir); // the first start creates it
        Result start = deploy(300, "start");
        assertThat(start.exit()).as(start.output()).isZero();
        assertThat(start.output()).contains("pg-metako demo is ready");
        assertThat(psql("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1), (2), (3)")).contains("INSERT 0 3");

        Result restart = deploy(300, "restart");
        assertThat(restart.exit()).as(restart.output()).isZero();
        assertThat(restart.output()).contains("stopped", "starting the stack kept in " + dir + " again", "pg-metako demo is ready");
        assertThat(psql("SELECT count(*) FROM kept")).as("rows after restart").isEqualTo("3");

        assertThat(deploy(120, "stop").output()).contains("stopped");
        assertThat(deploy(60, "status").exit()).as("status of a stopped stack").isEqualTo(3);
        Result again = deploy(300, "start");
        assertThat(again.exit()).as(again.output()).isZero();
        assertThat(psql("SELECT count(*) FROM kept")).as("rows after stop and start").isEqualTo("3");
        Result status = deploy(60, "status");
        assertThat(status.exit()).as(status.output()).isZero();
        assertThat(status.output()).contains("primary pg-1");

        Result cleanup = deploy(120, "cleanup");
        assertThat(cleanup.exit()).as(cleanup.output()).isZero();
        assertThat(dir).as("cleanup deletes the stack's folder").doesNotExist();
    }

    /** psql through metako-1's statement router, as the demo prints it; trimmed output. */
    private String psql(String sql) throws Exception {
        String endpoints = Files.readString(dir.resolve("endpoints.json"));
        int at = endpoints.indexOf("\"dsn\": \"") + "\"dsn\": \"".length();
        String dsn = endpoints.substring(at, endpoints.indexOf('"', at)).replace("\\\"", "\"");
        Process p = new ProcessBuilder("psql", dsn, "-XAt", "-v", "ON_ERROR_STOP=1", "-c", sql).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    private record Result(int exit, String output) {
    }

    private Result deploy(int seconds, String verb) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(REPO.resolve("deploy/deploy.sh").toString(), verb));
        ProcessBuilder b = new ProcessBuilder(cmd).redirectErrorStream(true).directory(REPO.toFile());
        b.environment().put("METAKO_NO_BUILD", "1"); // Maven built it; never rebuild under the tests
        b.environment().put("METAKO_DEPLOY_DIR", dir.toString());
        Path out = Files.createTempFile("deploy-", ".out");
        b.redirectOutput(out.toFile());
        Process p = b.start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(cmd + " did not end within " + seconds + " s: " + Files.readString(out));
        }
        String output = Files.readString(out, StandardCharsets.UTF_8);
        Files.delete(out);
        System.out.println("[deploy " + verb + "] " + output);
        return new Result(p.exitValue(), output);
    }
}

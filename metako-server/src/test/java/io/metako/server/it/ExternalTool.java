package io.metako.server.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real tool (HAProxy, Prometheus) run beside a test's cluster: its own folder in /tmp holding the configuration
 * the test wrote and the tool's log, stopped (SIGTERM, then SIGKILL) and deleted with {@link #close}.
 */
final class ExternalTool implements AutoCloseable {
    final Path dir;
    private final String name;
    private Process process;

    ExternalTool(String name) throws IOException {
        this.name = name;
        this.dir = Files.createTempDirectory(Path.of("/tmp"), "metako-" + name + "-");
    }

    /** Writes {@code text} as {@code file} in the tool's folder and returns its path. */
    Path write(String file, String text) throws IOException {
        Path p = dir.resolve(file);
        Files.writeString(p, text);
        return p;
    }

    /** Starts {@code command}, its output going to {@code NAME.log} in the folder. */
    void start(List<String> command) throws IOException {
        process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(dir.resolve(name + ".log").toFile())
                .start();
    }

    String log() throws IOException {
        Path log = dir.resolve(name + ".log");
        return Files.exists(log) ? Files.readString(log) : "";
    }

    @Override
    public void close() throws Exception {
        if (process != null) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** Starts a quorum, then {@code tool} against it; if the tool cannot start, the quorum is stopped too. */
    static Quorum quorumWith(QuorumStart start, ToolStart tool) throws IOException {
        Quorum quorum = start.start();
        try {
            tool.start(quorum);
        } catch (IOException | RuntimeException e) {
            quorum.close();
            throw e;
        }
        return quorum;
    }

    interface QuorumStart {
        Quorum start() throws IOException;
    }

    interface ToolStart {
        void start(Quorum q) throws IOException;
    }
}

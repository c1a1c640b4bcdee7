package io.metako.server.pg;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs server binaries, as the unprivileged {@code runAs} user when this process is root
 * (initdb and postgres refuse to run as root), and captures their combined output.
 */
public final class OsCommand {
    private final String runAs;

    /** {@code runAs} is used only when the current user is root; null means the current user. */
    public OsCommand(String runAs) {
        this.runAs = isRoot() ? runAs : null;
    }

    public static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }

    /** The OS user PostgreSQL runs as, or null when it runs as the current user. */
    public String runAs() {
        return runAs;
    }

    public Result run(List<String> command, Path workDir, Map<String, String> extraEnv, Duration timeout)
            throws IOException {
        List<String> full = new ArrayList<>();
        if (runAs != null) {
            full.addAll(List.of("runuser", "-u", runAs, "--"));
        }
        full.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(full).redirectErrorStream(true).directory(workDir.toFile());
        pb.environment().putAll(extraEnv);
        Process p = pb.start();
        p.getOutputStream().close();
        StringBuilder out = new StringBuilder();
        Thread reader = new Thread(() -> {
            try {
                out.append(new String(p.getInputStream().readAllBytes()));
            } catch (IOException ignored) {
                // the process died; what we have is enough
            }
        }, "cmd-output-" + command.get(0));
        reader.setDaemon(true);
        reader.start();
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish within " + timeout.toSeconds() + "s");
            }
            reader.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.descendants().forEach(ProcessHandle::destroyForcibly); // runuser passes on no SIGKILL: its child too
            p.destroyForcibly();
            throw new IOException("interrupted while running " + command.get(0), e);
        }
        synchronized (out) {
            return new Result(p.exitValue(), out.toString());
        }
    }

    /** Makes {@code dir} owned by the PostgreSQL OS user (when running as root). */
    public void chown(Path dir) throws IOException {
        if (runAs == null) {
            return;
        }
        try {
            Process p = new ProcessBuilder("chown", "-R", runAs + ":", dir.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IOException("chown " + runAs + " " + dir + " failed: " + out.trim());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    public record Result(int exitCode, String output) {
        public boolean ok() {
            return exitCode == 0;
        }
    }
}

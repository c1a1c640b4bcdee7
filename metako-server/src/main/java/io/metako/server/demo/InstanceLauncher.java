package io.metako.server.demo;

import io.metako.server.Main;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts a metako instance as a process of its own, on this JVM's classpath, with its output in a
 * log file. The demo runs its instances this way, and so does the fault harness, which must be able
 * to kill, freeze and cut off one instance at a time.
 */
public final class InstanceLauncher {
    private InstanceLauncher() {
    }

    /**
     * Launches {@code Main --config config}. {@code METAKO_INSTANCE_JAVA_OPTS} adds JVM options (e.g.
     * {@code -XX:TieredStopAtLevel=1} for a faster start); {@code prefix} (may be empty) runs before
     * the JVM, such as {@code faketime}.
     */
    public static Process launch(Path config, Path log, List<String> prefix) throws IOException {
        return launch(config, log, prefix, List.of());
    }

    /** Likewise, with {@code args} after {@code --config FILE} (e.g. {@code --join}). */
    public static Process launch(Path config, Path log, List<String> prefix, List<String> args) throws IOException {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of(java, "-Xmx256m", "-XX:+UseSerialGC"));
        String extra = System.getenv("METAKO_INSTANCE_JAVA_OPTS");
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "--config",
                config.toString()));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
    }
}

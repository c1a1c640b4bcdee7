package io.metako.server.pg;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The folder of PostgreSQL server binaries ({@code initdb}, {@code pg_ctl}, ...). Looked up in
 * {@code METAKO_PG_BIN}, then {@code PATH}, then {@code pg_config --bindir}, then
 * {@code /usr/lib/postgresql/<major>/bin} newest first.
 */
public record PgBinaries(Path binDir, int majorVersion) {
    public static final int OLDEST_SUPPORTED = 13;
    private static final List<String> REQUIRED = List.of("initdb", "pg_ctl", "postgres", "pg_basebackup");
    private static final Pattern VERSION = Pattern.compile("\\(PostgreSQL\\) (\\d+)");

    public Path tool(String name) {
        return binDir.resolve(name);
    }

    /** The binaries in {@code folder}, or an exception saying what is missing there. */
    public static PgBinaries at(Path folder) {
        return locateIn(List.of(folder));
    }

    /** Finds the binaries or explains, in the exception, where it looked and how to fix it. */
    public static PgBinaries locate(Map<String, String> env) {
        return locateIn(candidates(env));
    }

    /** The first of {@code folders} holding every required binary of a supported version. */
    static PgBinaries locateIn(List<Path> folders) {
        List<Path> tried = new ArrayList<>();
        for (Path dir : folders) {
            tried.add(dir);
            if (REQUIRED.stream().allMatch(t -> Files.isExecutable(dir.resolve(t)))) {
                int major = majorVersionOf(dir.resolve("postgres"));
                if (major >= OLDEST_SUPPORTED) {
                    return new PgBinaries(dir, major);
                }
            }
        }
        throw new IllegalStateException("PostgreSQL server binaries (" + String.join(", ", REQUIRED) + "; version "
                + OLDEST_SUPPORTED + "+) not found; looked in " + tried
                + ". Install them (Debian: apt-get install -y postgresql) or set METAKO_PG_BIN to their folder.");
    }

    private static List<Path> candidates(Map<String, String> env) {
        List<Path> out = new ArrayList<>();
        String explicit = env.get("METAKO_PG_BIN");
        if (explicit != null && !explicit.isBlank()) {
            out.add(Path.of(explicit));
        }
        String path = env.getOrDefault("PATH", "");
        for (String entry : path.split(java.io.File.pathSeparator)) {
            Path initdb = entry.isBlank() ? null : Path.of(entry, "initdb");
            if (initdb != null && Files.isExecutable(initdb)) {
                try {
                    out.add(initdb.toRealPath().getParent()); // /usr/local/bin/initdb may link into the real folder
                } catch (IOException e) {
                    out.add(Path.of(entry));
                }
            }
        }
        pgConfigBindir().ifPresent(out::add);
        out.addAll(debianBinDirs(Path.of("/usr/lib/postgresql")));
        return out;
    }

    private static Optional<Path> pgConfigBindir() {
        try {
            Process p = new ProcessBuilder("pg_config", "--bindir").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            if (p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0 && !out.isEmpty()) {
                return Optional.of(Path.of(out));
            }
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Optional.empty();
    }

    static List<Path> debianBinDirs(Path root) {
        List<Path> dirs = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return dirs;
        }
        try (DirectoryStream<Path> versions = Files.newDirectoryStream(root)) {
            for (Path v : versions) {
                if (v.getFileName().toString().matches("\\d+")) {
                    dirs.add(v.resolve("bin"));
                }
            }
        } catch (IOException e) {
            return dirs;
        }
        dirs.sort(Comparator.comparingInt((Path p) -> Integer.parseInt(p.getParent().getFileName().toString()))
                .reversed());
        return dirs;
    }

    private static int majorVersionOf(Path postgres) {
        try {
            Process p = new ProcessBuilder(postgres.toString(), "--version").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor(10, TimeUnit.SECONDS);
            Matcher m = VERSION.matcher(out);
            return m.find() ? Integer.parseInt(m.group(1)) : -1;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }
}

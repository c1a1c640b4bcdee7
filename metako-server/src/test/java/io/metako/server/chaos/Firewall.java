package io.metako.server.chaos;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Real network faults between processes on loopback: every instance and every PostgreSQL node of a
 * round gets a net_cls cgroup of its own (a class id its sockets carry), and iptables drops what one
 * process sends to another's port ({@code -m cgroup --cgroup ID --dport PORT}). Dropping what each side
 * sends to the other's listening port cuts a link both ways; dropping what a process sends from its
 * own port loses its replies only (a one-way cut). The test JVM itself is in no such cgroup, so
 * clients still reach every proxy. Rules live in a chain of their own, removed by {@link #close()}.
 */
final class Firewall implements AutoCloseable {
    private static final Path MOUNT = Path.of("/tmp/metako-net-cls");
    private static final String CHAIN = "METAKO_CHAOS";
    private static int nextClass = 0x4d100;

    private final Path group;
    private final Map<String, Integer> classes = new ConcurrentHashMap<>();
    private final List<List<String>> rules = new ArrayList<>();

    private Firewall(Path group) {
        this.group = group;
    }

    /** Mounts net_cls (once per machine) and creates this round's chain; fails with the reason when it cannot. */
    static Firewall create(String round) throws IOException, InterruptedException {
        Files.createDirectories(MOUNT);
        if (!Files.exists(MOUNT.resolve("cgroup.procs"))) {
            run(List.of("mount", "-t", "cgroup", "-o", "net_cls", "net_cls", MOUNT.toString()), true);
        }
        try (var stale = Files.list(MOUNT)) { // rounds that ended before their cgroups could go
            for (Path d : stale.filter(p -> p.getFileName().toString().startsWith("metako-chaos-")).toList()) {
                removeGroup(d);
            }
        }
        Path group = MOUNT.resolve(round);
        Files.createDirectories(group);
        Firewall f = new Firewall(group);
        run(List.of("iptables", "-w", "-N", CHAIN), false); // exists already: fine
        run(List.of("iptables", "-w", "-F", CHAIN), true);
        if (!run(List.of("iptables", "-w", "-C", "OUTPUT", "-j", CHAIN), false)) {
            run(List.of("iptables", "-w", "-I", "OUTPUT", "-j", CHAIN), true);
        }
        return f;
    }

    /** Puts {@code processes} (a JVM, or a postmaster and its children) in the cgroup of {@code name}. */
    synchronized void place(String name, List<ProcessHandle> processes) throws IOException {
        int id = classes.computeIfAbsent(name, k -> nextClass++);
        Path dir = group.resolve(name);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("net_cls.classid"), Integer.toString(id), StandardCharsets.US_ASCII);
        for (ProcessHandle p : processes) {
            if (p.isAlive()) {
                try {
                    Files.writeString(dir.resolve("cgroup.procs"), Long.toString(p.pid()), StandardCharsets.US_ASCII);
                } catch (IOException e) {
                    if (p.isAlive()) {
                        throw e;
                    }
                }
            }
        }
    }

    /** {@code from} can no longer send anything to {@code port} (new connections and established ones). */
    synchronized void dropTo(String from, int port) throws IOException, InterruptedException {
        add(List.of("-o", "lo", "-m", "cgroup", "--cgroup", classOf(from), "-p", "tcp", "--dport", Integer.toString(port)));
    }

    /** What {@code from} sends from its listening {@code port} is lost: its replies to everyone. */
    synchronized void dropFrom(String from, int port) throws IOException, InterruptedException {
        add(List.of("-o", "lo", "-m", "cgroup", "--cgroup", classOf(from), "-p", "tcp", "--sport", Integer.toString(port)));
    }

    /** Removes every rule of {@code kind} ("raft", "pg", ...): heal that part only. */
    synchronized void heal(String kind) throws IOException, InterruptedException {
        List<List<String>> keep = new ArrayList<>();
        for (List<String> r : rules) {
            if (r.get(0).equals(kind)) {
                run(deleteOf(r), true);
            } else {
                keep.add(r);
            }
        }
        rules.clear();
        rules.addAll(keep);
    }

    /** Heals everything. */
    synchronized void healAll() throws IOException, InterruptedException {
        run(List.of("iptables", "-w", "-F", CHAIN), true);
        rules.clear();
    }

    private String kind = "net";

    /** The kind the next rules are filed under, for {@link #heal(String)}. */
    synchronized Firewall as(String kind) {
        this.kind = kind;
        return this;
    }

    private void add(List<String> match) throws IOException, InterruptedException {
        List<String> rule = new ArrayList<>();
        rule.add(kind);
        rule.addAll(match);
        List<String> cmd = new ArrayList<>(List.of("iptables", "-w", "-A", CHAIN));
        cmd.addAll(match);
        cmd.addAll(List.of("-j", "DROP"));
        run(cmd, true);
        rules.add(rule);
    }

    private static List<String> deleteOf(List<String> rule) {
        List<String> cmd = new ArrayList<>(List.of("iptables", "-w", "-D", CHAIN));
        cmd.addAll(rule.subList(1, rule.size()));
        cmd.addAll(List.of("-j", "DROP"));
        return cmd;
    }

    private String classOf(String name) {
        Integer id = classes.get(name);
        if (id == null) {
            throw new IllegalStateException(name + " was never placed in a cgroup");
        }
        return "0x" + Integer.toHexString(id);
    }

    private static boolean run(List<String> cmd, boolean mustSucceed) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " did not finish within 30 s");
        }
        if (p.exitValue() != 0 && mustSucceed) {
            throw new IOException(String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + out
                    + " (the partition scenarios need root, iptables and the net_cls cgroup)");
        }
        return p.exitValue() == 0;
    }

    @Override
    public synchronized void close() throws IOException, InterruptedException {
        healAll();
        removeGroup(group);
    }

    /** Removes a round's cgroups; a process still exiting keeps one busy for a moment, so it is tried again. */
    private static void removeGroup(Path round) throws InterruptedException {
        for (int attempt = 0; attempt < 50 && Files.exists(round); attempt++) {
            try (var dirs = Files.list(round)) {
                for (Path d : dirs.filter(Files::isDirectory).toList()) {
                    Files.deleteIfExists(d); // rmdir: only an empty cgroup goes
                }
                Files.deleteIfExists(round);
            } catch (IOException busy) {
                Thread.sleep(100);
            }
        }
    }
}

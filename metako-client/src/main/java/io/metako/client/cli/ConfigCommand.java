package io.metako.client.cli;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.GetSettingsResponse;
import io.metako.proto.v1.Setting;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "config", mixinStandardHelpOptions = true,
        description = {"The cluster-wide settings in force: the replicated ones, which every instance acts on (an",
                "instance's own file seeds them once; docs/configuration.md says which keys are cluster-wide).",
                "set and edit change them through the Raft log: checked by the file's rules, applied as one entry, so",
                "every instance acts on the new values from the same log index; 'metakoctl history' records who",
                "changed what."},
        subcommands = {ConfigCommand.Show.class, ConfigCommand.Get.class, ConfigCommand.Set.class,
                ConfigCommand.Edit.class})
final class ConfigCommand extends CommandGroup {
    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "Print every cluster-wide setting as the configuration file's YAML (or -o json).")
    static final class Show extends CommandGroup.Part {
        @Override
        public Integer call() {
            return root().show(spec, MetakoClient::settings, StatusPrinter::json, ConfigCommand::yaml);
        }
    }

    @Command(name = "get", mixinStandardHelpOptions = true,
            description = "Print one cluster-wide setting's value, e.g. metakoctl config get health_check.interval")
    static final class Get extends CommandGroup.Part {
        @Parameters(paramLabel = "KEY", description = "section.key, as in the configuration file")
        String key;

        @Override
        public Integer call() {
            return Metakoctl.run(spec, () -> {
                try (MetakoClient client = root().client(root().connection)) {
                    List<Setting> all = client.settings().getSettingsList();
                    PrintWriter out = spec.commandLine().getOut();
                    for (Setting s : all) {
                        if (s.getKey().equals(key)) {
                            out.println(root().connection.output == Metakoctl.Output.json ? StatusPrinter.json(s)
                                    : s.getValue());
                            out.flush();
                            return 0;
                        }
                    }
                    throw new IllegalArgumentException("no cluster-wide setting '" + key + "'" + nearest(key, all)
                            + " (metakoctl config show lists them; instance-local keys live in each instance's file)");
                }
            });
        }
    }

    @Command(name = "set", mixinStandardHelpOptions = true,
            description = {"Change cluster-wide settings, e.g. metakoctl config set health_check.interval=500ms",
                    "Every assignment is checked first (all problems at once, with their keys); nothing changes",
                    "unless all are valid. Prints each change, old -> new."})
    static final class Set extends CommandGroup.Part {
        @Parameters(paramLabel = "KEY=VALUE", arity = "1..*",
                description = "section.key=value, values as in the configuration file (1s, 16MB, true)")
        List<String> assignments;

        @CommandLine.Option(names = "--dry-run", description = "Check and print the changes; apply nothing.")
        boolean dryRun;

        @Override
        public Integer call() {
            return Metakoctl.run(spec, () -> {
                var request = io.metako.proto.v1.SetSettingsRequest.newBuilder().setDryRun(dryRun)
                        .setRequestedBy(requester(root()));
                for (String a : assignments) {
                    int eq = a.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("'" + a + "' is not KEY=VALUE, e.g. health_check.interval=500ms");
                    }
                    request.addSet(Setting.newBuilder().setKey(a.substring(0, eq).strip()).setValue(a.substring(eq + 1)));
                }
                try (MetakoClient client = root().client(root().connection)) {
                    return print(spec, root(), client.setSettings(request.build()), dryRun);
                }
            });
        }
    }

    @Command(name = "edit", mixinStandardHelpOptions = true,
            description = {"Edit the cluster-wide settings as YAML in $VISUAL or $EDITOR (vi when neither is set),",
                    "then see the changes and confirm before they are applied. A key you delete takes its default.",
                    "Applied only if nobody changed the settings while you edited; invalid YAML or values are",
                    "refused with every problem, and your edit is kept in a file to fix and pass with --file."})
    static final class Edit extends CommandGroup.Part {
        @CommandLine.Option(names = "--file", paramLabel = "FILE",
                description = "Apply this YAML file instead of opening an editor.")
        java.nio.file.Path file;

        @CommandLine.Option(names = {"-y", "--yes"}, description = "Apply without asking.")
        boolean yes;

        @Override
        public Integer call() {
            return Metakoctl.run(spec, () -> {
                PrintWriter out = spec.commandLine().getOut();
                try (MetakoClient client = root().client(root().connection)) {
                    GetSettingsResponse current = client.settings();
                    String yaml = file != null ? read(file) : edited(yaml(current));
                    if (yaml == null) {
                        out.println("no change: the settings were not edited");
                        out.flush();
                        return 0;
                    }
                    var request = io.metako.proto.v1.SetSettingsRequest.newBuilder().setYaml(yaml)
                            .addAllExpected(current.getSettingsList()).setRequestedBy(requester(root()));
                    var check = client.setSettings(request.clone().setDryRun(true).build());
                    if (check.getChangesCount() == 0) {
                        out.println("no change: the settings already are so");
                        out.flush();
                        return 0;
                    }
                    out.print(changes(check));
                    if (!yes && !confirmed(out)) {
                        out.println("not applied");
                        out.flush();
                        return 1;
                    }
                    return print(spec, root(), client.setSettings(request.build()), false);
                }
            });
        }

        private String read(java.nio.file.Path f) {
            try {
                return java.nio.file.Files.readString(f);
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException("cannot read " + f + ": " + e.getMessage());
            }
        }

        /** Opens the editor on {@code yaml}; the text saved, or null when it was left as it was. */
        private String edited(String yaml) {
            String editor = java.util.Optional.ofNullable(root().env("VISUAL")).filter(v -> !v.isBlank())
                    .or(() -> java.util.Optional.ofNullable(root().env("EDITOR")).filter(v -> !v.isBlank()))
                    .orElse("vi");
            try {
                java.nio.file.Path f = java.nio.file.Files.createTempFile("metako-settings-", ".yaml");
                String header = "# pg-metako cluster-wide settings: save and quit to see the changes before they apply.\n"
                        + "# A key you delete takes its default; instance-local keys live in each instance's file.\n";
                java.nio.file.Files.writeString(f, header + yaml);
                Process p = new ProcessBuilder("sh", "-c", editor + " \"$1\"", "metakoctl", f.toString())
                        .inheritIO().start();
                int code = p.waitFor();
                if (code != 0) {
                    throw new IllegalArgumentException("the editor (" + editor + ") exited with " + code
                            + "; nothing applied (the edit is in " + f + ")");
                }
                String after = java.nio.file.Files.readString(f);
                if (after.equals(header + yaml)) {
                    java.nio.file.Files.deleteIfExists(f);
                    return null;
                }
                spec.commandLine().getErr().println("metakoctl: your edit is kept in " + f
                        + " (if it is refused: fix it and run metakoctl config edit --file " + f + ")");
                return after;
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException("cannot run the editor (" + editor + "): " + e.getMessage()
                        + "; set VISUAL or EDITOR, or pass --file");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalArgumentException("interrupted while the editor ran; nothing applied");
            }
        }

        private boolean confirmed(PrintWriter out) {
            out.print("Apply these changes? [y/N] ");
            out.flush();
            try {
                String line = new java.io.BufferedReader(new java.io.InputStreamReader(System.in,
                        java.nio.charset.StandardCharsets.UTF_8)).readLine();
                return line != null && (line.strip().equalsIgnoreCase("y") || line.strip().equalsIgnoreCase("yes"));
            } catch (java.io.IOException e) {
                return false;
            }
        }
    }

    /** Who asks, for the history: the OS user and host, as far as this process can tell. */
    static String requester(Metakoctl root) {
        String user = java.util.Optional.ofNullable(root.env("USER")).orElse(System.getProperty("user.name", "?"));
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            host = "?";
        }
        return user + "@" + host;
    }

    /** "key: old -> new" lines. */
    static String changes(io.metako.proto.v1.SetSettingsResponse r) {
        StringBuilder sb = new StringBuilder();
        for (var c : r.getChangesList()) {
            sb.append("  ").append(c.getKey()).append(": ").append(c.getOldValue()).append(" -> ")
                    .append(c.getNewValue()).append('\n');
        }
        return sb.toString();
    }

    private static int print(CommandLine.Model.CommandSpec spec, Metakoctl root, io.metako.proto.v1.SetSettingsResponse r,
                             boolean dryRun) {
        PrintWriter out = spec.commandLine().getOut();
        if (root.connection.output == Metakoctl.Output.json) {
            out.println(StatusPrinter.json(r));
        } else if (r.getChangesCount() == 0) {
            out.println("no change: the settings already are so");
        } else {
            out.print(changes(r));
            out.print(dryRun ? "dry run: nothing applied\n" : StatusPrinter.mutation(r.getResult()));
        }
        out.flush();
        return 0;
    }

    /** The settings as YAML, one section after another, in the file's order. */
    static String yaml(GetSettingsResponse r) {
        StringBuilder sb = new StringBuilder();
        String section = null;
        for (Setting s : r.getSettingsList()) {
            int dot = s.getKey().indexOf('.');
            String sec = s.getKey().substring(0, dot);
            if (!sec.equals(section)) {
                section = sec;
                sb.append(sec).append(":\n");
            }
            sb.append("  ").append(s.getKey().substring(dot + 1)).append(": ").append(s.getValue()).append('\n');
        }
        return sb.toString();
    }

    /** "; did you mean 'x'?" for a key one edit or so from a real one, else "". */
    static String nearest(String key, List<Setting> all) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (Setting s : all) {
            int d = distance(key, s.getKey());
            if (d < bestDistance) {
                bestDistance = d;
                best = s.getKey();
            }
        }
        return best != null && bestDistance <= Math.max(2, key.length() / 4) ? "; did you mean '" + best + "'?" : "";
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}

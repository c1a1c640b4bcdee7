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
                "instance's own file seeds them once; docs/configuration.md says which keys are cluster-wide)."},
        subcommands = {ConfigCommand.Show.class, ConfigCommand.Get.class})
final class ConfigCommand extends SubCommand {
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return CommandLine.ExitCode.USAGE;
    }

    /** What show and get share: the top command's connection, and this command's spec. */
    abstract static class Part implements java.util.concurrent.Callable<Integer> {
        @CommandLine.ParentCommand
        ConfigCommand config;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        Metakoctl root() {
            return config.parent;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "Print every cluster-wide setting as the configuration file's YAML (or -o json).")
    static final class Show extends Part {
        @Override
        public Integer call() {
            return root().show(spec, MetakoClient::settings, StatusPrinter::json, ConfigCommand::yaml);
        }
    }

    @Command(name = "get", mixinStandardHelpOptions = true,
            description = "Print one cluster-wide setting's value, e.g. metakoctl config get health_check.interval")
    static final class Get extends Part {
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

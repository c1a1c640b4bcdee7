package io.metako.client.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "switchover", mixinStandardHelpOptions = true,
        description = "Planned change of primary without data loss: the primary turns read-only, the target "
                + "replays all it wrote, then the target is promoted. Follow it with 'metakoctl watch'.")
final class SwitchoverCommand extends SubCommand {
    @Option(names = "--to", paramLabel = "NODE", defaultValue = "",
            description = "The replica to promote (default: the most advanced healthy one).")
    String target;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.switchover(target), StatusPrinter::json, StatusPrinter::mutation);
    }
}

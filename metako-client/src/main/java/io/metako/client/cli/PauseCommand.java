package io.metako.client.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "pause", mixinStandardHelpOptions = true,
        description = "Maintenance mode: no automatic failover starts until 'resume' (status says so).")
final class PauseCommand extends SubCommand {
    @Option(names = "--reason", defaultValue = "", description = "Why, for the logs.")
    String reason;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.pause(reason), StatusPrinter::json, StatusPrinter::mutation);
    }
}

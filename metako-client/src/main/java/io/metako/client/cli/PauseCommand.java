package io.metako.client.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "pause", mixinStandardHelpOptions = true,
        description = "Maintenance mode: no automatic failover starts until 'resume' (status says so).")
final class PauseCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--reason", defaultValue = "", description = "Why, for the logs.")
    String reason;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.pause(reason), StatusPrinter::json, StatusPrinter::mutation);
    }
}

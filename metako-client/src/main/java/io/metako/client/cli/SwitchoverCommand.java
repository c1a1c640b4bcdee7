package io.metako.client.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "switchover", mixinStandardHelpOptions = true,
        description = "Planned change of primary without data loss: the primary turns read-only, the target "
                + "replays all it wrote, then the target is promoted. Follow it with 'metakoctl watch'.")
final class SwitchoverCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--to", paramLabel = "NODE", defaultValue = "",
            description = "The replica to promote (default: the most advanced healthy one).")
    String target;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.switchover(target), StatusPrinter::json, StatusPrinter::mutation);
    }
}

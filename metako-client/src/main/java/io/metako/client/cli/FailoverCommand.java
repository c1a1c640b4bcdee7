package io.metako.client.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "failover", mixinStandardHelpOptions = true,
        description = "Manual failover: promote the given replica now, without waiting for the primary. "
                + "Writes not yet on the target are lost; prefer 'switchover' while the primary is healthy.")
final class FailoverCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--to", paramLabel = "NODE", required = true, description = "The replica to promote.")
    String target;

    @Option(names = "--force", description = "Promote it even when it is not healthy by majority.")
    boolean force;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.failover(target, force), StatusPrinter::json, StatusPrinter::mutation);
    }
}

package io.metako.client.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "failover", mixinStandardHelpOptions = true,
        description = "Manual failover: promote the given replica now, without waiting for the primary. "
                + "Writes not yet on the target are lost; prefer 'switchover' while the primary is healthy.")
final class FailoverCommand extends SubCommand {
    @Option(names = "--to", paramLabel = "NODE", required = true, description = "The replica to promote.")
    String target;

    @Option(names = "--force", description = "Promote it even when it is not healthy by majority.")
    boolean force;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.failover(target, force), StatusPrinter::json, StatusPrinter::mutation);
    }
}

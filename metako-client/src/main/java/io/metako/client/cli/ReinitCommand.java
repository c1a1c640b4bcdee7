package io.metako.client.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "reinit", mixinStandardHelpOptions = true,
        description = {"Rebuild a replica: its managing instance stops it, replaces its data directory with a fresh "
                + "pg_basebackup of the primary (made beside it, swapped in only when complete) and starts it. It "
                + "takes no reads, and is promoted by nobody, until it streams from the primary again.",
                "For a replica whose data directory is damaged or that cannot follow the primary any more. Refused for "
                        + "the primary, during a failover or switchover, and for a synchronous standby that commits "
                        + "cannot do without."})
final class ReinitCommand extends SubCommand {
    @Parameters(index = "0", paramLabel = "NODE", description = "The replica to rebuild, e.g. pg-3.")
    String node;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.reinit(node), StatusPrinter::json, StatusPrinter::mutation);
    }
}

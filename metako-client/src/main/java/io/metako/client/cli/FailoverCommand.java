package io.metako.client.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "failover", mixinStandardHelpOptions = true,
        description = "Manual failover: promote the given replica, and no other. While the primary is healthy by "
                + "majority this is carried out as a switchover (no acknowledged write lost) unless --force; with "
                + "--force, writes not yet on the target are lost.")
final class FailoverCommand extends SubCommand {
    @Option(names = "--to", paramLabel = "NODE", required = true, description = "The replica to promote.")
    String target;

    @Option(names = "--force", description = "Promote it now even when it is not healthy by majority, or fail over "
            + "from a healthy primary without waiting for the target to catch up.")
    boolean force;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.failover(target, force), StatusPrinter::json, StatusPrinter::mutation);
    }
}

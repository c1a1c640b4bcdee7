package io.metako.client.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "rejoin", mixinStandardHelpOptions = true,
        description = {"Bring a QUARANTINED node (an old primary) back as a replica now: its managing instance "
                + "(instance.manages) stops it, rewinds it with pg_rewind from the primary (or clones it afresh, by "
                + "the cluster's rejoin.method), and starts it as a replica; it takes reads again once it streams.",
                "For rejoin.auto: false, or to try again at once after a failed attempt ('metakoctl status' says why "
                        + "it failed). Refused while the primary is not healthy or no instance manages the node.",
                "Follow it with 'metakoctl watch'; 'metakoctl history' records it with how long it took."})
final class RejoinCommand extends SubCommand {
    @Parameters(index = "0", paramLabel = "NODE", description = "The quarantined node, e.g. pg-1.")
    String node;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.rejoin(node), StatusPrinter::json, StatusPrinter::mutation);
    }
}

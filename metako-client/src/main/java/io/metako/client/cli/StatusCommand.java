package io.metako.client.cli;

import io.metako.client.MetakoClient;
import picocli.CommandLine.Command;

@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show the cluster: Raft leader and term, epoch, primary, every node's health and lag, "
                + "the members and what the control loop last decided.")
final class StatusCommand extends SubCommand {
    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::status, StatusPrinter::json, StatusPrinter::status);
    }
}

package io.metako.client.cli;

import io.metako.client.MetakoClient;
import picocli.CommandLine.Command;

@Command(name = "resume", mixinStandardHelpOptions = true,
        description = "Leave maintenance mode: automatic failover is on again.")
final class ResumeCommand extends SubCommand {
    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::resume, StatusPrinter::json, StatusPrinter::mutation);
    }
}

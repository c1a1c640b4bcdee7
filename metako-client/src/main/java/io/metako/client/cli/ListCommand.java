package io.metako.client.cli;

import io.metako.client.MetakoClient;
import picocli.CommandLine.Command;

@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the PostgreSQL nodes with role, health by majority, timeline, LSNs and lag.")
final class ListCommand extends SubCommand {
    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::status, StatusPrinter::jsonNodes, StatusPrinter::nodes);
    }
}

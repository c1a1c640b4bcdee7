package io.metako.client.cli;

import io.metako.client.MetakoClient;
import picocli.CommandLine.Command;

@Command(name = "members", mixinStandardHelpOptions = true,
        description = "List the Raft group members (metako instances) and their roles.")
final class MembersCommand extends SubCommand {
    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::members, StatusPrinter::json, StatusPrinter::members);
    }
}

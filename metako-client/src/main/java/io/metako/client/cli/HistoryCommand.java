package io.metako.client.cli;

import io.metako.client.MetakoClient;
import picocli.CommandLine.Command;

@Command(name = "history", mixinStandardHelpOptions = true,
        description = "List the topology events (bootstrap, failovers, switchovers) with time, Raft term, epoch, "
                + "reason, old and new primary and the candidates' WAL positions.")
final class HistoryCommand extends SubCommand {
    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::history, StatusPrinter::json, StatusPrinter::history);
    }
}

package io.metako.client.cli;

import io.metako.client.MetakoClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "history", mixinStandardHelpOptions = true,
        description = "List the topology events (bootstrap, failovers, switchovers) with time, Raft term, epoch, "
                + "reason, old and new primary and the candidates' WAL positions.")
final class HistoryCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::history, StatusPrinter::json, StatusPrinter::history);
    }
}

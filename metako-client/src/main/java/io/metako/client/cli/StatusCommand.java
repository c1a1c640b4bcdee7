package io.metako.client.cli;

import io.metako.client.MetakoClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show the cluster: Raft leader and term, epoch, primary, every node's health and lag, "
                + "the members and what the control loop last decided.")
final class StatusCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::status, StatusPrinter::json, StatusPrinter::status);
    }
}

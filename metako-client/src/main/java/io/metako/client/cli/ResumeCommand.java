package io.metako.client.cli;

import io.metako.client.MetakoClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "resume", mixinStandardHelpOptions = true,
        description = "Leave maintenance mode: automatic failover is on again.")
final class ResumeCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::resume, StatusPrinter::json, StatusPrinter::mutation);
    }
}

package io.metako.client.cli;

import io.metako.client.MetakoClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the PostgreSQL nodes with role, health by majority, timeline, LSNs and lag.")
final class ListCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::status, StatusPrinter::jsonNodes, StatusPrinter::nodes);
    }
}

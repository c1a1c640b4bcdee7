package io.metako.client.cli;

import io.metako.client.MetakoClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "members", mixinStandardHelpOptions = true,
        description = "List the Raft group members (metako instances) and their roles.")
final class MembersCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::members, StatusPrinter::json, StatusPrinter::members);
    }
}

package io.metako.client.cli;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ListMembersResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import java.util.concurrent.Callable;

@Command(name = "members", mixinStandardHelpOptions = true,
        description = "List the Raft group members (metako instances) and their roles.")
final class MembersCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        return Metakoctl.run(spec, () -> {
            try (MetakoClient client = parent.client(parent.connection)) {
                ListMembersResponse m = client.members();
                if (parent.connection.output == Metakoctl.Output.json) {
                    spec.commandLine().getOut().println(StatusPrinter.json(m));
                } else {
                    spec.commandLine().getOut().print(StatusPrinter.members(m));
                }
                spec.commandLine().getOut().flush();
                return 0;
            }
        });
    }
}

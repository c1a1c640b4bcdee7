package io.metako.client.cli;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterStatus;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import java.util.concurrent.Callable;

@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the PostgreSQL nodes with role, health by majority, timeline, LSNs and lag.")
final class ListCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        return Metakoctl.run(spec, () -> {
            try (MetakoClient client = parent.client(parent.connection)) {
                ClusterStatus s = client.status();
                if (parent.connection.output == Metakoctl.Output.json) {
                    spec.commandLine().getOut().println(StatusPrinter.jsonNodes(s));
                } else {
                    spec.commandLine().getOut().print(StatusPrinter.nodes(s));
                }
                spec.commandLine().getOut().flush();
                return 0;
            }
        });
    }
}

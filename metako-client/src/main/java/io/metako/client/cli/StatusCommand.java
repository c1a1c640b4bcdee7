package io.metako.client.cli;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.ClusterStatus;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import java.util.concurrent.Callable;

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
        return Metakoctl.run(spec, () -> {
            try (MetakoClient client = parent.client(parent.connection)) {
                ClusterStatus s = client.status();
                if (parent.connection.output == Metakoctl.Output.json) {
                    spec.commandLine().getOut().println(StatusPrinter.json(s));
                } else {
                    spec.commandLine().getOut().print(StatusPrinter.status(s));
                }
                spec.commandLine().getOut().flush();
                return 0;
            }
        });
    }
}

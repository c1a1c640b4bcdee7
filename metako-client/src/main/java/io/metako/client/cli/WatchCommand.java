package io.metako.client.cli;

import io.metako.client.MetakoClient;
import java.io.PrintWriter;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "watch", mixinStandardHelpOptions = true,
        description = "Print the cluster status now and again after every change of the replicated state "
                + "(one line per change; with -o json one JSON object per line). Stop with Ctrl-C. "
                + "When the answering instance goes away the watch moves on to the next endpoint; when none "
                + "sends a status within --timeout, three rounds over --endpoints, it ends with exit code 3.")
final class WatchCommand extends SubCommand {
    @Option(names = "--count", paramLabel = "N", defaultValue = "0",
            description = "Stop after N updates (default: never).")
    int count;

    @Override
    public Integer call() {
        return Metakoctl.run(spec, () -> {
            PrintWriter out = spec.commandLine().getOut();
            AtomicInteger seen = new AtomicInteger();
            try (MetakoClient client = parent.client(parent.connection)) {
                client.watch(s -> {
                    out.println(parent.connection.output == Metakoctl.Output.json
                            ? StatusPrinter.jsonLine(s) : StatusPrinter.oneLine(s));
                    out.flush();
                    return count <= 0 || seen.incrementAndGet() < count;
                });
                return 0;
            }
        });
    }
}

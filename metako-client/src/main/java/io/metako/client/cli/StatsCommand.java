package io.metako.client.cli;

import io.metako.client.MetakoClient;
import io.metako.client.MetakoClientException;
import io.metako.proto.v1.ClusterStatus;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;

@Command(name = "stats", mixinStandardHelpOptions = true,
        description = {"Statement statistics of every instance's statement router, and the cluster's totals: asks each",
                "endpoint on its own (every instance counts only what its own proxy carried). Statements are units",
                "(a Query, or Parse..Sync); reads and writes as routed; other = BEGIN, COMMIT, SET, ...; failures =",
                "errors sent to clients. Counts start when an instance starts."})
final class StatsCommand extends SubCommand {
    @Override
    public Integer call() {
        return Metakoctl.run(spec, () -> {
            List<String> endpoints = parent.endpoints(parent.connection);
            List<StatusPrinter.InstanceStats> answers = new ArrayList<>();
            for (String endpoint : endpoints) {
                try (MetakoClient client = parent.client(parent.connection, List.of(endpoint))) {
                    ClusterStatus s = client.status();
                    if (answers.stream().anyMatch(a -> a.instance().equals(s.getAnsweredBy()))) {
                        continue; // two endpoints of one instance (a name and an address): count it once
                    }
                    answers.add(new StatusPrinter.InstanceStats(endpoint, s.getAnsweredBy(), s.hasProxy() ? s.getProxy() : null,
                            null));
                } catch (MetakoClientException e) {
                    if (e.reason() == MetakoClientException.Reason.UNAUTHENTICATED) {
                        throw e;
                    }
                    answers.add(new StatusPrinter.InstanceStats(endpoint, "", null, e.getMessage()));
                }
            }
            PrintWriter out = spec.commandLine().getOut();
            out.print(parent.connection.output == Metakoctl.Output.json ? StatusPrinter.statsJson(answers) + "\n"
                    : StatusPrinter.stats(answers));
            out.flush();
            return answers.stream().allMatch(a -> a.error() != null) ? Metakoctl.NO_ANSWER : 0;
        });
    }
}

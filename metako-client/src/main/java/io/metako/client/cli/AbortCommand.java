package io.metako.client.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "abort", mixinStandardHelpOptions = true,
        description = {"End the failover or switchover in progress without a change of primary: the old primary is "
                + "primary again at the next epoch (its fence is lifted once it is seen read-only).",
                "For an operation that is stuck: a target named with --to that never becomes eligible, a switchover "
                        + "waiting on a transaction that does not end. Refused once the target has been promoted.",
                "A failover aborted while the old primary is down starts again after the cooldown unless the cluster "
                        + "is paused: run 'metakoctl pause' first to keep it from doing so."})
final class AbortCommand extends SubCommand {
    @Option(names = "--reason", defaultValue = "", description = "Why, for the history.")
    String reason;

    @Override
    public Integer call() {
        return parent.show(spec, c -> c.abort(reason), StatusPrinter::json, StatusPrinter::mutation);
    }
}

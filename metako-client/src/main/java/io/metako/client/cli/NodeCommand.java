package io.metako.client.cli;

import io.metako.client.MetakoClient;
import io.metako.proto.v1.AddNodeRequest;
import io.metako.proto.v1.NodeTags;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "node", mixinStandardHelpOptions = true,
        description = {"Add a PostgreSQL node to the topology, or take one out. Both go through the Raft log: every "
                + "instance's proxies pick the change up at the same log index."},
        subcommands = {NodeCommand.Add.class, NodeCommand.Remove.class})
final class NodeCommand extends CommandGroup {
    @Command(name = "add", mixinStandardHelpOptions = true,
            description = {"Add a node, e.g. metakoctl node add pg-4 10.0.0.14:5432",
                    "It enters QUARANTINED: no reads, no writes, never promoted, until the leader sees it stream from "
                            + "the primary on the primary's timeline, then it is a replica (in 'metakoctl history' as "
                            + "ADOPTED). A replica that already streams (made with pg_basebackup) is taken in at once; "
                            + "with --clone, the instance that manages it (instance.manages) clones it afresh first.",
                    "Give every instance the node's credentials (an entry in 'nodes' of its file, then metakoctl "
                            + "reload): an instance without them cannot probe it ('metakoctl status' shows the drift)."})
    static final class Add extends CommandGroup.Part {
        @Parameters(index = "0", paramLabel = "NAME", description = "The node's name, e.g. pg-4.")
        String name;

        @Parameters(index = "1", paramLabel = "HOST:PORT", description = "Where every instance reaches it.")
        String address;

        @Option(names = "--database", description = "The database probes connect to (default: postgres).")
        String database = "";

        @Option(names = "--priority", description = "Higher wins among equally advanced failover candidates.")
        int priority;

        @Option(names = "--nofailover", description = "Never promote this node.")
        boolean nofailover;

        @Option(names = "--noloadbalance", description = "Never send balanced reads to this node.")
        boolean noloadbalance;

        @Option(names = "--clone", description = "Have its managing instance clone it afresh with pg_basebackup.")
        boolean clone;

        @Override
        public Integer call() {
            int colon = address.lastIndexOf(':');
            int port;
            try {
                port = colon > 0 ? Integer.parseInt(address.substring(colon + 1)) : -1;
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port < 1 || port > 65_535) {
                spec.commandLine().getErr().println("metakoctl: '" + address + "' is not HOST:PORT, e.g. 10.0.0.14:5432");
                return CommandLine.ExitCode.USAGE;
            }
            AddNodeRequest request = AddNodeRequest.newBuilder().setName(name).setHost(address.substring(0, colon))
                    .setPort(port).setDatabase(database).setClone(clone)
                    .setTags(NodeTags.newBuilder().setPriority(priority).setNofailover(nofailover)
                            .setNoloadbalance(noloadbalance))
                    .setRequestedBy(ConfigCommand.requester(root())).build();
            return root().show(spec, (MetakoClient c) -> c.addNode(request), StatusPrinter::json, StatusPrinter::mutation);
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
            description = {"Take a node out of the topology: no traffic, no probes, never promoted.",
                    "Refused for the primary (switch over first), for a node a failover or switchover in progress "
                            + "involves, and in sync mode for a member of the synchronous set (stop it first). The "
                            + "node itself keeps running: stop it, and take it out of every instance's file."})
    static final class Remove extends CommandGroup.Part {
        @Parameters(index = "0", paramLabel = "NAME", description = "The node, e.g. pg-4.")
        String name;

        @Override
        public Integer call() {
            String who = ConfigCommand.requester(root());
            return root().show(spec, (MetakoClient c) -> c.removeNode(name, who), StatusPrinter::json,
                    StatusPrinter::mutation);
        }
    }
}

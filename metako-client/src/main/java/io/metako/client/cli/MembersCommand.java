package io.metako.client.cli;

import io.metako.client.MetakoClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "members", mixinStandardHelpOptions = true,
        description = {"List the Raft group members (metako instances), their roles and membership; add or remove one.",
                "Membership: voter (in the Raft configuration), leaving (in the previous one while a change commits), "
                        + "registered (not in the configuration: being added, or removed and any lease it held not "
                        + "yet run out), unregistered (in the configuration, registered by the leader within a "
                        + "second)."},
        subcommands = {MembersCommand.Add.class, MembersCommand.Remove.class})
final class MembersCommand extends CommandGroup {
    @Override
    public Integer call() {
        return parent.show(spec, MetakoClient::members, StatusPrinter::json, StatusPrinter::members);
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = {"Add a metako instance to the Raft group, e.g. metakoctl members add metako-4 "
                    + "10.0.0.4:7100 10.0.0.4:7200",
                    "Start the new instance first with 'metako --join --config FILE' (its file lists the members to "
                            + "reach and itself among the peers, its storage empty): the leader brings it up to date, "
                            + "then the new configuration is committed. Only the leader makes the change: the call "
                            + "goes to each endpoint until the leader answers.",
                    "Then add the instance to every instance's peers (and restart nothing: the running group "
                            + "already knows it)."})
    static final class Add extends CommandGroup.Part {
        @Parameters(index = "0", paramLabel = "ID", description = "The new instance's instance.id.")
        String id;

        @Parameters(index = "1", paramLabel = "RAFT_ADDR", description = "host:port of its Raft port (instance.raft_address).")
        String raftAddress;

        @Parameters(index = "2", paramLabel = "API_ADDR", description = "host:port of its admin API (instance.grpc_address).")
        String apiAddress;

        @Override
        public Integer call() {
            String who = ConfigCommand.requester(root());
            return root().show(spec, (MetakoClient c) -> c.addMember(id, raftAddress, apiAddress, who),
                    StatusPrinter::json, StatusPrinter::mutation);
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
            description = {"Take a metako instance out of the Raft group, e.g. to replace a dead one (add the new one "
                    + "first, then remove the dead one).",
                    "Refused when fewer than a majority of the current members would be left reachable. The removed "
                            + "instance stops routing at once; stop it and take it out of every file's peers."})
    static final class Remove extends CommandGroup.Part {
        @Parameters(index = "0", paramLabel = "ID", description = "The instance to remove.")
        String id;

        @Override
        public Integer call() {
            String who = ConfigCommand.requester(root());
            return root().show(spec, (MetakoClient c) -> c.removeMember(id, who), StatusPrinter::json,
                    StatusPrinter::mutation);
        }
    }
}

package io.metako.client.cli;

import picocli.CommandLine;

/** A metakoctl command that only groups subcommands (config, node): alone, it prints its usage. */
abstract class CommandGroup extends SubCommand {
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return CommandLine.ExitCode.USAGE;
    }

    /** A subcommand of a group: the top command (connection options, output) through the group, and its own spec. */
    abstract static class Part implements java.util.concurrent.Callable<Integer> {
        @CommandLine.ParentCommand
        CommandGroup group;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        Metakoctl root() {
            return group.parent;
        }
    }
}

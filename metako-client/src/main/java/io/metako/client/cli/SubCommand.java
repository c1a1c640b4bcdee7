package io.metako.client.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** What every metakoctl subcommand has: the top command (connection options, output) and its own spec. */
abstract class SubCommand implements Callable<Integer> {
    @ParentCommand
    Metakoctl parent;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;
}

package io.metako.client.cli;

import picocli.CommandLine.Command;

@Command(name = "reload", mixinStandardHelpOptions = true,
        description = {"Make the instance that answers (the first of --endpoints that does) read its configuration file "
                + "again, as SIGHUP does (systemctl reload metako).",
                "Applied at once: instance.auth_token / read_token, proxy.users and client_auth, the nodes' username / "
                        + "password / database, replication.passfile, logging.level, and the proxy's TLS certificate "
                        + "(its files are read again). Other instance-local changes are listed: they take effect at the "
                        + "next start. Cluster-wide keys are never taken from a file: where the file differs from the "
                        + "cluster it is listed as drift (metakoctl config set changes the cluster's).",
                "An invalid file is refused with every problem; the instance goes on with the configuration it has. "
                        + "Exit code 5 then."})
final class ReloadCommand extends SubCommand {
    @Override
    public Integer call() {
        return Metakoctl.run(spec, () -> {
            try (io.metako.client.MetakoClient client = parent.client(parent.connection)) {
                io.metako.proto.v1.ReloadResponse r = client.reload();
                java.io.PrintWriter out = spec.commandLine().getOut();
                out.print(parent.connection.output == Metakoctl.Output.json ? StatusPrinter.json(r) + "\n"
                        : StatusPrinter.reload(r));
                out.flush();
                return r.getReloaded() ? 0 : Metakoctl.REFUSED;
            }
        });
    }
}

package io.metako.client.cli;

import io.metako.client.MetakoClient;
import io.metako.client.MetakoClientException;
import io.metako.proto.v1.ReloadResponse;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "reload", mixinStandardHelpOptions = true,
        description = {"Make the instance that answers (the first of --endpoints that does) read its configuration file "
                + "again, as SIGHUP does (systemctl reload metako); with --all, every endpoint in turn.",
                "Applied at once: instance.auth_token / read_token, proxy.users and client_auth, the nodes' username / "
                        + "password / database (tried first: a login a node refuses is not taken), "
                        + "replication.passfile, logging.level, and a renewed TLS certificate at security.cert_file / "
                        + "key_file. Other instance-local changes are listed: they take effect at the next start. "
                        + "Cluster-wide keys are never taken from a file: where the file differs from the cluster it "
                        + "is listed as drift (metakoctl config set changes the cluster's).",
                "An invalid file is refused with every problem; the instance goes on with the configuration it has. "
                        + "Exit code 5 then (with --all: if any was refused; 3 if none answered)."})
final class ReloadCommand extends SubCommand {
    @Option(names = "--all", description = "Reload every endpoint of --endpoints, one after another.")
    boolean all;

    @Override
    public Integer call() {
        return Metakoctl.run(spec, () -> {
            PrintWriter out = spec.commandLine().getOut();
            if (!all) {
                try (MetakoClient client = parent.client(parent.connection)) {
                    ReloadResponse r = client.reload();
                    print(out, r);
                    return r.getReloaded() ? 0 : Metakoctl.REFUSED;
                }
            }
            boolean refused = false;
            int answered = 0;
            for (String endpoint : parent.endpoints(parent.connection)) {
                try (MetakoClient client = parent.client(parent.connection, List.of(endpoint))) {
                    ReloadResponse r = client.reload();
                    answered++;
                    refused |= !r.getReloaded();
                    print(out, r);
                } catch (MetakoClientException e) {
                    if (e.reason() == MetakoClientException.Reason.UNAUTHENTICATED) {
                        throw e;
                    }
                    refused |= e.reason() == MetakoClientException.Reason.REFUSED;
                    out.println(endpoint + ": " + e.getMessage());
                }
            }
            out.flush();
            return answered == 0 && !refused ? Metakoctl.NO_ANSWER : refused ? Metakoctl.REFUSED : 0;
        });
    }

    private void print(PrintWriter out, ReloadResponse r) {
        out.print(parent.connection.output == Metakoctl.Output.json ? StatusPrinter.json(r) + "\n" : StatusPrinter.reload(r));
        out.flush();
    }
}

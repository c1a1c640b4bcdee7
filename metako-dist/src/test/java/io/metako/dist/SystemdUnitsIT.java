package io.metako.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.Container.ExecResult;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.utility.MountableFile;

/**
 * The systemd units of the archive, run by a real systemd: a container of the product image plus systemd as PID 1,
 * set up as docs/operations.md describes a host ({@code systemd/host-setup.sh}). {@code metako@.service} runs the
 * instance as the metako service user under its hardening, {@code --check} keeps a broken file from starting,
 * {@code systemctl reload} re-reads the file, {@code systemctl stop} is a clean stop; {@code
 * metako-managed@.service} runs as the node's OS user and a stop leaves the node serving.
 */
class SystemdUnitsIT {
    private static final String TOKEN = "systemd-it-token-0123456789";
    private GenericContainer<?> host;

    @BeforeEach
    void boot() throws Exception {
        Assumptions.assumeTrue(DockerClientFactory.instance().isDockerAvailable(),
                "no Docker engine answers (.ci/run starts one: apt-get install docker.io, dockerd --storage-driver=vfs)");
        String product = ProductImage.image().get();
        ImageFromDockerfile withSystemd = new ImageFromDockerfile("pg-metako-systemd-it:" + ProductImage.version().toLowerCase(), false)
                .withFileFromString("Dockerfile", "FROM " + product + "\n"
                        + "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd"
                        + " systemd-sysv procps && apt-get clean && rm -rf /var/lib/apt/lists/*\n"
                        + "ENTRYPOINT [\"/lib/systemd/systemd\"]\n");
        String image = withSystemd.get(); // a failed build fails the test; only the start of systemd may skip it
        host = new GenericContainer<>(org.testcontainers.utility.DockerImageName.parse(image))
                .withCreateContainerCmdModifier(cmd -> cmd.getHostConfig()
                        .withCapAdd(com.github.dockerjava.api.model.Capability.SYS_ADMIN)
                        .withTmpFs(Map.of("/run", "rw", "/run/lock", "rw"))
                        .withBinds(com.github.dockerjava.api.model.Bind.parse("/sys/fs/cgroup:/sys/fs/cgroup:rw")))
                .withCopyFileToContainer(MountableFile.forHostPath(java.nio.file.Path.of(System.getProperty("user.dir"), "src/test/resources/systemd/host-setup.sh"), 0755), "/root/host-setup.sh")
                .withStartupAttempts(1);
        try {
            host.start();
        } catch (RuntimeException e) {
            Assumptions.abort("systemd cannot run as PID 1 in a container on this machine: " + e.getMessage());
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        String state = "";
        while (System.nanoTime() < deadline) {
            state = sh("systemctl is-system-running").getStdout().strip();
            if (state.equals("running") || state.equals("degraded")) {
                break;
            }
            Thread.sleep(500);
        }
        Assumptions.assumeTrue(state.equals("running") || state.equals("degraded"),
                "systemd did not come up as PID 1 in the container (state '" + state + "')");
        ExecResult setup = host.execInContainer(new String[] {"env", "METAKO_TOKEN=" + TOKEN, "PG_PASSWORD=pg-secret-1",
                "/root/host-setup.sh"});
        assertThat(setup.getExitCode()).as(setup.getStdout() + setup.getStderr()).isZero();
    }

    @AfterEach
    void shutdown() {
        if (host != null) {
            host.stop();
        }
    }

    @Test
    void theServiceUnitRunsReloadsRefusesABrokenFileAndStopsCleanly() throws Exception {
        ok("systemctl start metako@metako-1");
        awaitStatus("metako-1", "primary pg-1");
        String pid = ok("systemctl show -p MainPID --value metako@metako-1").strip();
        assertThat(ok("stat -c %U /proc/" + pid).strip()).as("the instance's OS user").isEqualTo("metako");
        assertThat(ok("grep NoNewPrivs /proc/" + pid + "/status")).contains("1");
        assertThat(ok("journalctl -u metako@metako-1 --no-pager")).as("no secret in the journal")
                .doesNotContain(TOKEN).doesNotContain("pg-secret-1");

        // systemctl reload: SIGHUP, the file read again
        ok("sed -i 's/^  level: info$/  level: debug/' /etc/metako/metako-1.yaml && systemctl reload metako@metako-1");
        awaitJournal("metako@metako-1", "configuration reloaded from /etc/metako/metako-1.yaml");
        assertThat(ok("systemctl show -p MainPID --value metako@metako-1").strip()).as("the same process").isEqualTo(pid);

        // a broken file: ExecStartPre's --check fails the start, with the problem in the journal
        ok("sed -i 's/^health_check:$/helth_check:/' /etc/metako/metako-1.yaml");
        ExecResult restart = sh("systemctl restart metako@metako-1");
        assertThat(restart.getExitCode()).as("restart with a broken file").isNotZero();
        awaitJournal("metako@metako-1", "helth_check: unknown key; did you mean 'health_check'?");
        assertThat(sh("systemctl is-active metako@metako-1").getStdout().strip()).isNotEqualTo("active");
        ok("systemctl stop metako@metako-1; systemctl reset-failed metako@metako-1; "
                + "sed -i 's/^helth_check:$/health_check:/' /etc/metako/metako-1.yaml && systemctl start metako@metako-1");
        awaitStatus("metako-1", "primary pg-1");

        // systemctl stop: SIGTERM, a clean stop (exit 143 counts as success), not a failed unit
        ok("systemctl stop metako@metako-1");
        assertThat(ok("systemctl show -p ActiveState -p Result metako@metako-1"))
                .contains("ActiveState=inactive").contains("Result=success");
        awaitJournal("metako@metako-1", "instance metako-1 stopped");
    }

    @Test
    void theManagedUnitRunsAsTheNodesUserAndAStopLeavesTheNodeServing() throws Exception {
        // docs/operations.md: for the managed unit, which runs as postgres, the files' group is postgres
        ok("chgrp postgres /etc/metako /etc/metako/managed.yaml");
        // a host's reboot: the node is stopped when the unit starts, and the unit starts it first (read-only: it was
        // a primary), and the leader lifts that fence since the log still names it the primary
        ok("runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/data -m fast -w stop");
        ok("systemctl start metako-managed@managed");
        awaitJournal("metako-managed@managed", "pg-1: started (a primary when it stopped");
        awaitStatus("managed", "primary pg-1");
        awaitJournal("metako-managed@managed", "lifted the fence on pg-1");
        assertThat(ok("runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -XAt -h /var/run/postgresql -U postgres -d postgres -c 'SHOW default_transaction_read_only'")
                .strip()).as("the node takes writes again").isEqualTo("off");
        String pid = ok("systemctl show -p MainPID --value metako-managed@managed").strip();
        assertThat(ok("stat -c %U /proc/" + pid).strip()).as("the instance's OS user").isEqualTo("postgres");
        awaitStatus("managed", "\"managing_instance\": \"metako-1\"", "-o", "json"); // it records itself as the node's manager
        ok("systemctl stop metako-managed@managed");
        assertThat(ok("systemctl show -p ActiveState -p Result metako-managed@managed"))
                .contains("ActiveState=inactive").contains("Result=success");
        ExecResult ready = sh("runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_isready -h 127.0.0.1 -p 5432");
        assertThat(ready.getExitCode()).as("the node serves after the instance stopped: " + ready.getStdout()).isZero();
    }

    private ExecResult sh(String script) throws Exception {
        return host.execInContainer("bash", "-c", script);
    }

    /** Runs {@code script}; fails with its output unless it exits 0; returns its standard output. */
    private String ok(String script) throws Exception {
        ExecResult r = sh(script);
        assertThat(r.getExitCode()).as(script + "\n" + r.getStdout() + r.getStderr() + "\n" + sh("journalctl -n 30 --no-pager").getStdout())
                .isZero();
        return r.getStdout();
    }

    /** Waits up to 60 s for metakoctl status of the instance (unit instance name {@code unit}) to contain {@code text}. */
    private void awaitStatus(String unit, String text, String... options) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            ExecResult r = sh("/opt/pg-metako/bin/metakoctl --endpoints 127.0.0.1:7200 --token " + TOKEN + " "
                    + String.join(" ", options) + " status");
            last = r.getStdout() + r.getStderr();
            if (r.getExitCode() == 0 && last.contains(text)) {
                return;
            }
            Thread.sleep(500);
        }
        throw new AssertionError("status of " + unit + " never showed '" + text + "': " + last + "\n"
                + sh("journalctl -n 40 --no-pager").getStdout());
    }

    private void awaitJournal(String unit, String text) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            if (sh("journalctl -u " + unit + " --no-pager").getStdout().contains(text)) {
                return;
            }
            Thread.sleep(300);
        }
        throw new AssertionError("the journal of " + unit + " never showed '" + text + "':\n"
                + sh("journalctl -u " + unit + " -n 40 --no-pager").getStdout());
    }
}

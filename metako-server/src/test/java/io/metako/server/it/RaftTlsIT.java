package io.metako.server.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.metako.proto.v1.Command;
import io.metako.proto.v1.SetPaused;
import io.metako.server.state.RaftNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.grpc.GrpcTlsConfig;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.TimeDuration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Raft links under mutual TLS (security.raft_tls_enabled), with certificates from deploy/certs.sh: the
 * instances form their group and serve, and a stock Ratis client that reaches a Raft port, as an outsider
 * would (issue 18 paused a running demo this way), gets nothing applied, with no certificate or with one
 * another CA signed.
 */
class RaftTlsIT {
    private static final Duration CONVERGE = Duration.ofSeconds(60);
    @TempDir
    static Path pki;
    static Quorum q;

    @BeforeAll
    static void start() throws Exception {
        certs("init", pki.resolve("cluster").toString());
        certs("init", pki.resolve("stranger").toString());
        certs("client", pki.resolve("stranger").toString(), "outsider");
        certs("client", pki.resolve("cluster").toString(), "operator");
        certs("instance", pki.resolve("cluster").toString(), "metako-9", "127.0.0.1");
        q = Quorum.start("500ms", "30s", "async", (i, config) -> {
            String id = "metako-" + (i + 1);
            try {
                certs("instance", pki.resolve("cluster").toString(), id, "127.0.0.1,localhost");
            } catch (Exception e) {
                throw new java.io.IOException(e);
            }
            Files.writeString(config, Files.readString(config) + "security:\n  raft_tls_enabled: true\n"
                    + "  cert_file: " + pki.resolve("cluster/" + id + ".crt") + "\n  key_file: " + pki.resolve("cluster/" + id + ".key")
                    + "\n  raft_ca_file: " + pki.resolve("cluster/ca.crt") + "\n");
        });
    }

    @AfterAll
    static void stop() {
        if (q != null) {
            q.close();
        }
    }

    static void certs(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("bash", Path.of("..", "deploy", "certs.sh").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(out).isZero();
    }

    /**
     * A stock Ratis client of the group with {@code tls}; with retries, so that a follower's "not the leader"
     * cannot pass for a refusal.
     */
    private static RaftClient client(Parameters tls) {
        RaftProperties props = new RaftProperties();
        org.apache.ratis.client.RaftClientConfigKeys.Rpc.setRequestTimeout(props, TimeDuration.valueOf(3, TimeUnit.SECONDS));
        return RaftClient.newBuilder().setProperties(props).setParameters(tls).setRaftGroup(RaftNode.groupOf(q.config(0)))
                .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(6, TimeDuration.valueOf(300, TimeUnit.MILLISECONDS)))
                .build();
    }

    /** Why the group refused {@code data}; fails if it was applied. */
    private static String refusal(RaftClient c, byte[] data) {
        try {
            var reply = c.io().send(Message.valueOf(ByteString.copyFrom(data)));
            assertThat(reply.isSuccess()).as("refused").isFalse();
            return String.valueOf(reply.getException());
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    /** The text of what {@code call} threw (its causes included); fails if it returned. */
    private static String failure(java.util.concurrent.Callable<?> call) {
        try {
            Object answer = call.call();
            throw new AssertionError("expected a refusal, got " + answer);
        } catch (Exception e) {
            StringBuilder text = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) {
                text.append(t).append(" / ");
            }
            return text.toString();
        }
    }

    @Test
    void theGroupWorksOverTlsAndAnOutsiderGetsNothingApplied() throws Exception {
        await().atMost(CONVERGE).untilAsserted(() -> {
            for (int i = 0; i < 3; i++) {
                var s = q.status(i);
                assertThat(s.getSeeded()).isTrue();
                assertThat(s.getLeaderId()).isNotEmpty();
                assertThat(s.getPrimary()).isEqualTo("pg-1");
                assertThat(s.getHoldsLease()).as("lease round trips over TLS").isTrue();
            }
        });
        long applied = q.status(0).getAppliedIndex();
        Command pause = Command.newBuilder().setEpoch(q.status(0).getEpoch()).setProposer("outsider")
                .setSetPaused(SetPaused.newBuilder().setPaused(true).setReason("an outsider")).build();
        Parameters strangerCert = new Parameters();
        GrpcConfigKeys.Client.setTlsConf(strangerCert, new GrpcTlsConfig(pki.resolve("stranger/outsider.key").toFile(),
                pki.resolve("stranger/outsider.crt").toFile(), pki.resolve("cluster/ca.crt").toFile(), true));
        for (Parameters outsider : List.of(new Parameters(), strangerCert)) {
            try (RaftClient c = client(outsider)) {
                boolean refused;
                try {
                    c.io().send(Message.valueOf(ByteString.copyFrom(pause.toByteArray())));
                    refused = false;
                } catch (java.io.IOException | RuntimeException e) {
                    refused = true;
                }
                assertThat(refused).as("a Raft client without a certificate of the cluster CA").isTrue();
            }
        }
        // certificates of the cluster CA that are not a member's: an operator's (metakoctl), a non-member instance's
        for (String name : List.of("operator", "metako-9")) {
            Parameters notAMember = new Parameters();
            GrpcConfigKeys.Client.setTlsConf(notAMember, new GrpcTlsConfig(pki.resolve("cluster/" + name + ".key").toFile(),
                    pki.resolve("cluster/" + name + ".crt").toFile(), pki.resolve("cluster/ca.crt").toFile(), true));
            GrpcConfigKeys.Admin.setTlsConf(notAMember, new GrpcTlsConfig(pki.resolve("cluster/" + name + ".key").toFile(),
                    pki.resolve("cluster/" + name + ".crt").toFile(), pki.resolve("cluster/ca.crt").toFile(), true));
            try (RaftClient c = client(notAMember)) {
                assertThat(failure(() -> c.io().send(Message.valueOf(ByteString.copyFrom(pause.toByteArray())))))
                        .as(name + " submits").contains("not a member of this Raft group");
                assertThat(failure(() -> c.io().sendReadOnly(Message.EMPTY)))
                        .as(name + " reads").contains("not a member of this Raft group");
                var group = RaftNode.groupOf(q.config(0));
                var onlyOne = List.of(group.getPeers().iterator().next());
                assertThat(failure(() -> c.admin().setConfiguration(onlyOne)))
                        .as(name + " changes the membership").contains("not a member of this Raft group");
            }
        }
        // an insider (a valid cluster certificate, metako-2's) cannot send unsigned commands, nor sign in another's name
        Parameters insiderTls = new Parameters();
        GrpcConfigKeys.Client.setTlsConf(insiderTls, new GrpcTlsConfig(pki.resolve("cluster/metako-2.key").toFile(),
                pki.resolve("cluster/metako-2.crt").toFile(), pki.resolve("cluster/ca.crt").toFile(), true));
        io.metako.server.state.CommandSigner insider = io.metako.server.state.CommandSigner.of(q.config(1).security(), List.of("metako-1", "metako-2", "metako-3"));
        Command forgedVerdict = Command.newBuilder().setEpoch(q.status(0).getEpoch()).setProposer("metako-2")
                .setReportVerdict(io.metako.proto.v1.ReportVerdict.newBuilder().setInstanceId("metako-3").setNode("pg-1")
                        .setVerdict(io.metako.proto.v1.Verdict.DOWN)).build();
        Command liedProposer = forgedVerdict.toBuilder().setProposer("metako-3").build();
        try (RaftClient c = client(insiderTls)) {
            assertThat(refusal(c, pause.toByteArray())).contains("unsigned");
            assertThat(refusal(c, insider.sign(forgedVerdict))).contains("metako-2 reported a verdict in the name of metako-3");
            assertThat(refusal(c, insider.sign(liedProposer))).contains("proposed as 'metako-3' but signed by 'metako-2'");
            Command termZero = Command.newBuilder().setEpoch(q.status(0).getEpoch()).setProposer("metako-2")
                    .setSetSynchronousStandbys(io.metako.proto.v1.SetSynchronousStandbys.newBuilder()).build();
            assertThat(refusal(c, insider.sign(termZero))).contains("comes only from the leader's controller");
            // a member that recorded another's signed command cannot append it a second time
            var state = q.instances[0].state();
            long next = state.getSequencesList().stream().filter(w -> w.getProposer().equals("metako-3"))
                    .mapToLong(io.metako.proto.v1.SenderSequences::getHighest).findFirst().orElse(0) + 1_000;
            io.metako.server.state.CommandSigner third = io.metako.server.state.CommandSigner.of(q.config(2).security(),
                    List.of("metako-1", "metako-2", "metako-3"));
            byte[] recorded = third.sign(Command.newBuilder().setEpoch(state.getEpoch()).setProposer("metako-3")
                    .setSequence(next).setReportVerdict(io.metako.proto.v1.ReportVerdict.newBuilder().setInstanceId("metako-3")
                            .setNode("pg-2").setVerdict(io.metako.proto.v1.Verdict.UP)).build());
            var first = c.io().send(Message.valueOf(ByteString.copyFrom(recorded)));
            assertThat(first.isSuccess()).as("metako-3's own command, relayed once: " + first.getException()).isTrue();
            assertThat(refusal(c, recorded)).as("the same signed bytes a second time")
                    .contains("replayed command: metako-3's command " + next);
            assertThat(refusal(c, insider.sign(Command.newBuilder().setEpoch(state.getEpoch()).setProposer("metako-2")
                    .setReportVerdict(io.metako.proto.v1.ReportVerdict.newBuilder().setInstanceId("metako-2").setNode("pg-2")
                            .setVerdict(io.metako.proto.v1.Verdict.UP)).build())))
                    .as("a signed command without a sequence number").contains("sequence number");
        }
        Thread.sleep(1_000);
        for (int i = 0; i < 3; i++) {
            assertThat(q.status(i).getPaused()).as("nothing an outsider sent was applied").isFalse();
        }
        assertThat(q.instances[0].state().getVerdictsList()).as("no verdict in metako-3's name but its own")
                .noneMatch(v -> v.getInstanceId().equals("metako-3") && v.getVerdict() == io.metako.proto.v1.Verdict.DOWN);
        assertThat(q.instances[0].state().getPaused()).isFalse();
        for (int i = 0; i < 3; i++) {
            assertThat(q.status(i).getMembersList()).as("the Raft membership is unchanged").hasSize(3);
        }
        System.out.println("[raft-tls] applied index " + applied + " before the outsiders, " + q.status(0).getAppliedIndex() + " after");
    }
}

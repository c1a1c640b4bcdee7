package io.metako.server.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.proto.v1.Command;
import io.metako.proto.v1.SetPaused;
import io.metako.proto.v1.SignedCommand;
import io.metako.proxy.session.RouterSettings;
import io.metako.server.config.SecurityConfig;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Who may sign a Raft command, with certificates from deploy/certs.sh. */
class CommandSignerTest {
    private static final List<String> PEERS = List.of("metako-1", "metako-2", "metako-3");
    @TempDir
    static Path pki;

    @BeforeAll
    static void certificates() throws Exception {
        certs("init", pki.toString());
        certs("instance", pki.toString(), "metako-1", "127.0.0.1");
        certs("instance", pki.toString(), "metako-9", "127.0.0.1");
        certs("client", pki.toString(), "operator");
    }

    private static void certs(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("bash", Path.of("..", "deploy", "certs.sh").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(out).isZero();
    }

    private static CommandSigner signer(String name) throws Exception {
        return CommandSigner.of(new SecurityConfig(false, pki.resolve(name + ".crt"), pki.resolve(name + ".key"),
                RouterSettings.SslMode.PREFER, null, false, false, null, true, pki.resolve("ca.crt"), false), PEERS);
    }

    private static Command pause(String proposer) {
        return Command.newBuilder().setEpoch(3).setProposer(proposer).setSetPaused(SetPaused.newBuilder().setPaused(true)).build();
    }

    @Test
    void anInstanceSignsInItsOwnNameAndOthersVerify() throws Exception {
        CommandSigner one = signer("metako-1");
        assertThat(one.verify(one.sign(pause("metako-1")))).isEqualTo(pause("metako-1"));
        assertThatThrownBy(() -> one.verify(one.sign(pause("metako-2"))))
                .hasMessageContaining("proposed as 'metako-2' but signed by 'metako-1'");
    }

    @Test
    void onlyCertificatesOfTheGroupsInstancesMaySign() throws Exception {
        CommandSigner verifier = signer("metako-1");
        assertThatThrownBy(() -> verifier.verify(signer("operator").sign(pause("operator"))))
                .as("an operator's client certificate from the same CA").hasMessageContaining("not an instance certificate");
        assertThatThrownBy(() -> verifier.verify(signer("metako-9").sign(pause("metako-9"))))
                .hasMessageContaining("'metako-9' is not an instance of this Raft group");
    }

    @Test
    void unsignedOrTamperedCommandsAreRefused() throws Exception {
        CommandSigner one = signer("metako-1");
        assertThatThrownBy(() -> one.verify(pause("metako-1").toByteArray())).isInstanceOf(GeneralSecurityException.class);
        SignedCommand signed = SignedCommand.parseFrom(one.sign(pause("metako-1")));
        byte[] tampered = signed.toBuilder().setCommand(com.google.protobuf.ByteString.copyFrom(
                pause("metako-1").toBuilder().setEpoch(4).build().toByteArray())).build().toByteArray();
        assertThatThrownBy(() -> one.verify(tampered)).hasMessageContaining("does not match the command");
        byte[] noSignature = signed.toBuilder().clearSignature().build().toByteArray();
        assertThatThrownBy(() -> one.verify(noSignature)).hasMessageContaining("unsigned command");
    }
}

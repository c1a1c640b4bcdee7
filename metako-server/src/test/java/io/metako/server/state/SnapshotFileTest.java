package io.metako.server.state;

import static io.metako.server.state.ClusterTransitionsTest.seeded;
import static io.metako.server.state.ClusterTransitionsTest.verdict;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.metako.proto.v1.ClusterState;
import io.metako.proto.v1.Verdict;
import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Snapshots on disk: the whole state comes back, and a damaged file is refused. */
class SnapshotFileTest {
    @TempDir
    Path dir;

    static ClusterState busyState() {
        ClusterState s = seeded();
        s = ClusterTransitions.apply(s, verdict(1, "m1", "pg-3", Verdict.DOWN, 77), 2).state();
        return ClusterTransitions.apply(s, verdict(1, "m2", "pg-3", Verdict.UP, 78), 2).state();
    }

    @Test
    void theWholeStateRoundTripsThroughAFile() throws IOException {
        File f = dir.resolve("snapshot.2_10").toFile();
        ClusterState s = busyState();
        SnapshotFile.write(f, s);
        assertThat(SnapshotFile.read(f)).isEqualTo(s);
        assertThat(f.getParentFile().list()).as("no temporary file left").noneMatch(n -> n.endsWith(".tmp"));
    }

    @Test
    void aDamagedSnapshotIsRefused() throws IOException {
        File f = dir.resolve("snapshot.2_11").toFile();
        SnapshotFile.write(f, busyState());
        try (RandomAccessFile raf = new RandomAccessFile(f, "rw")) {
            raf.seek(3);
            int b = raf.read();
            raf.seek(3);
            raf.write(b ^ 0xff);
        }
        assertThatThrownBy(() -> SnapshotFile.read(f)).isInstanceOf(IOException.class);
    }

    @Test
    void aSnapshotWithoutItsChecksumIsRefused() throws IOException {
        File f = dir.resolve("snapshot.2_12").toFile();
        SnapshotFile.write(f, busyState());
        try (var files = Files.list(dir)) {
            files.filter(p -> p.toString().endsWith(".md5")).forEach(p -> p.toFile().delete());
        }
        assertThatThrownBy(() -> SnapshotFile.read(f)).isInstanceOf(IOException.class);
    }
}

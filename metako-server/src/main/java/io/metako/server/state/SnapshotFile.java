package io.metako.server.state;

import io.metako.proto.v1.ClusterState;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import org.apache.ratis.util.MD5FileUtil;

/**
 * A snapshot on disk: the {@link ClusterState} as protobuf, written to a temporary file and moved
 * into place, with an MD5 file beside it that is checked on every read, so a torn or damaged
 * snapshot is refused instead of restored.
 */
final class SnapshotFile {
    private SnapshotFile() {
    }

    static void write(File file, ClusterState state) throws IOException {
        File tmp = new File(file.getPath() + ".tmp");
        Files.write(tmp.toPath(), state.toByteArray());
        Files.move(tmp.toPath(), file.toPath(), StandardCopyOption.ATOMIC_MOVE);
        MD5FileUtil.computeAndSaveMd5ForFile(file);
    }

    static ClusterState read(File file) throws IOException {
        MD5FileUtil.verifySavedMD5(file, MD5FileUtil.computeMd5ForFile(file));
        return ClusterState.parseFrom(Files.readAllBytes(file.toPath()));
    }
}

package io.metako.dist;

import java.nio.file.Files;
import java.nio.file.Path;
import org.testcontainers.images.builder.ImageFromDockerfile;

/** The image of {@code deploy/docker}, built from the release archive {@code mvn package} made, as the tests use it. */
final class ProductImage {
    private ProductImage() {
    }

    static String version() {
        return System.getProperty("metako.version");
    }

    /** Built when first used (kept: the next test reuses its layers). */
    static ImageFromDockerfile image() {
        String version = version();
        Path docker = Path.of(System.getProperty("metako.docker"));
        Path archive = Path.of(System.getProperty("user.dir"), "target", "metako-" + version + ".tar.gz");
        if (!Files.exists(archive)) {
            throw new AssertionError(archive + " is missing: mvn package makes the archive");
        }
        return new ImageFromDockerfile("pg-metako-it:" + version.toLowerCase(), false)
                .withFileFromPath("Dockerfile", docker.resolve("Dockerfile"))
                .withFileFromPath("entrypoint.sh", docker.resolve("entrypoint.sh"))
                .withFileFromPath(archive.getFileName().toString(), archive)
                .withBuildArg("VERSION", version);
    }
}

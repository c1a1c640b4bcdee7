package io.metako.server.config;

import java.nio.file.Path;
import java.util.Optional;

/**
 * The PostgreSQL node this instance runs beside and manages ({@code instance.manages}): the only instance that
 * touches its files (stop, start, pg_rewind, standby.signal). {@code dataDir} is its PGDATA, whose parent folder
 * also holds its server log ({@code postgres.log}) and Unix socket; {@code binDir} its server binaries (empty:
 * found as {@code metako demo} finds them); {@code osUser} the OS user PostgreSQL runs as, when metako runs as root.
 */
public record ManagedNode(String node, Path dataDir, Optional<Path> binDir, String osUser) {
}

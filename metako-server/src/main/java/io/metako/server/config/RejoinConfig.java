package io.metako.server.config;

/**
 * How a quarantined old primary comes back: {@code auto} (the default) starts a rejoin as soon as the primary is
 * healthy; otherwise only {@code metakoctl rejoin} does. {@code method}: {@code rewind_or_clone} (pg_rewind from
 * the primary, a fresh pg_basebackup when pg_rewind fails: the default), {@code rewind} (pg_rewind only: when it
 * fails the status says why) or {@code clone} (always a fresh pg_basebackup).
 */
public record RejoinConfig(boolean auto, String method) {
    public static final java.util.List<String> METHODS = java.util.List.of("rewind_or_clone", "rewind", "clone");
    public static final RejoinConfig DEFAULT = new RejoinConfig(true, "rewind_or_clone");
}

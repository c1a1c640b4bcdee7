package io.metako.server.config;

import java.util.List;
import java.util.Set;

/**
 * The HTTP endpoints on {@code instance.http_address} (read-only; nothing changes the cluster over HTTP).
 *
 * @param tokenAuth {@code http.auth: token}: requests need {@code Authorization: Bearer} with the instance's
 *                  {@code read_token} (or {@code auth_token}), except to the groups in {@code open}; {@code none}
 *                  (the default): no token asked anywhere
 * @param open      {@code http.open}: the endpoint groups served without a token under {@code auth: token}; by
 *                  default {@code health} and {@code metrics}, which load balancers and scrapers call
 */
public record HttpConfig(boolean tokenAuth, Set<String> open) {
    /** {@code health}: the check endpoints; {@code metrics}: /metrics; {@code cluster}: /cluster, /history. */
    public static final List<String> GROUPS = List.of("health", "metrics", "cluster");
    public static final HttpConfig DEFAULT = new HttpConfig(false, Set.of("health", "metrics"));

    public HttpConfig {
        open = Set.copyOf(open);
    }

    /** Whether a request to {@code group} needs the token. */
    public boolean needsToken(String group) {
        return tokenAuth && !open.contains(group);
    }
}

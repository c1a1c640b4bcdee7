package io.metako.proxy.session;

import java.util.HashMap;
import java.util.Map;

/**
 * The prepared statements one backend connection holds, each by the session's version of it
 * ({@link SessionStatements} keeps them in step and decides when to re-parse); 0 stands for none.
 */
final class BackendStatements {
    private final Map<String, Integer> named = new HashMap<>();
    private int unnamed;

    /** The version of named statement {@code name} held here; 0: none. */
    int version(String name) {
        Integer v = named.get(name);
        return v == null ? 0 : v;
    }

    boolean holds(String name) {
        return named.containsKey(name);
    }

    void put(String name, int version) {
        named.put(name, version);
    }

    void remove(String name) {
        named.remove(name);
    }

    /** No named statement any more (DISCARD ALL, DEALLOCATE ALL). */
    void clearNamed() {
        named.clear();
    }

    int unnamed() {
        return unnamed;
    }

    void unnamed(int version) {
        unnamed = version;
    }
}

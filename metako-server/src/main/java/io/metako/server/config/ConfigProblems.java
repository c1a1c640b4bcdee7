package io.metako.server.config;

import java.util.ArrayList;
import java.util.List;

/** Collects every problem found in one configuration file, each with its YAML path and a hint. */
public final class ConfigProblems {
    private final List<String> problems = new ArrayList<>();

    /** Records a problem at {@code path} (e.g. {@code nodes[2].port}). */
    public void add(String path, String message) {
        problems.add(path.isEmpty() ? message : path + ": " + message);
    }

    public boolean isEmpty() {
        return problems.isEmpty();
    }

    public List<String> list() {
        return List.copyOf(problems);
    }

    /** Throws a {@link ConfigException} listing every problem, if there is any. */
    public void throwIfAny(String source) {
        if (!problems.isEmpty()) {
            throw new ConfigException(source, problems);
        }
    }
}

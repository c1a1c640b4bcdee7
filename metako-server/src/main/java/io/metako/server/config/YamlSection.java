package io.metako.server.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One YAML mapping being read into a record. Each accessor remembers the key as known, so
 * {@link #finish()} can report every key nobody asked for, with the nearest known key as a hint.
 * Problems go to the shared {@link ConfigProblems}; accessors then return the default.
 */
final class YamlSection {
    private static final Pattern ENV_REF = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)}");

    private final String path;
    private final Map<?, ?> map;
    private final ConfigProblems problems;
    private final Function<String, String> env;
    private final Path baseDir;
    private final Set<String> known = new LinkedHashSet<>();

    YamlSection(String path, Map<?, ?> map, ConfigProblems problems, Function<String, String> env, Path baseDir) {
        this.path = path;
        this.map = map;
        this.problems = problems;
        this.env = env;
        this.baseDir = baseDir;
    }

    String path(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    /** The keys of this mapping, for free-form maps (node name -> address). */
    java.util.List<String> keys() {
        return map.keySet().stream().map(String::valueOf).toList();
    }

    boolean has(String key) {
        known.add(key);
        return map.get(key) != null;
    }

    void problem(String key, String message) {
        problems.add(path(key), message);
    }

    String string(String key, String dflt) {
        known.add(key);
        Object v = map.get(key);
        if (v == null) {
            return dflt;
        }
        if (v instanceof Map || v instanceof List) {
            problem(key, "must be a single value, not a " + (v instanceof Map ? "mapping" : "list"));
            return dflt;
        }
        return substituteEnv(key, v.toString());
    }

    /** A list of single values ({@code [a, b]} or one item per line); empty when absent. */
    List<String> stringList(String key) {
        known.add(key);
        Object v = map.get(key);
        List<String> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (!(v instanceof List<?> list)) {
            problem(key, "must be a list (e.g. [health, metrics]), got '" + v + "'");
            return out;
        }
        for (int i = 0; i < list.size(); i++) {
            Object item = list.get(i);
            if (item == null || item instanceof Map || item instanceof List) {
                problems.add(path(key) + "[" + i + "]", "must be a single value");
            } else {
                out.add(item.toString());
            }
        }
        return out;
    }

    String requiredString(String key, String hint) {
        String v = string(key, null);
        if (v == null || v.isBlank()) {
            if (!problemsMentionPath(key)) {
                problem(key, "is required (" + hint + ")");
            }
            return null;
        }
        return v;
    }

    int integer(String key, int dflt, int min, int max) {
        known.add(key);
        Object v = map.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Integer i)) {
            problem(key, "must be a whole number, got '" + v + "'");
            return dflt;
        }
        if (i < min || i > max) {
            problem(key, "must be " + min + "-" + max + ", got " + i);
            return dflt;
        }
        return i;
    }

    boolean bool(String key, boolean dflt) {
        known.add(key);
        Object v = map.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Boolean b)) {
            problem(key, "must be true or false, got '" + v + "'");
            return dflt;
        }
        return b;
    }

    Duration duration(String key, Duration dflt) {
        String text = string(key, null);
        if (text == null) {
            return dflt;
        }
        Duration d = Units.parseDuration(text);
        if (d == null) {
            problem(key, "must be a duration such as \"250ms\", \"5s\" or \"1m\", got '" + text + "'");
            return dflt;
        }
        if (d.isZero()) {
            problem(key, "must be greater than zero");
            return dflt;
        }
        return d;
    }

    long size(String key, long dflt) {
        String text = string(key, null);
        if (text == null) {
            return dflt;
        }
        Long n = Units.parseSize(text);
        if (n == null) {
            problem(key, "must be a size such as \"16MB\", \"512kB\" or a number of bytes, got '" + text + "'");
            return dflt;
        }
        return n;
    }

    HostPort hostPort(String key, HostPort dflt) {
        String text = string(key, null);
        if (text == null) {
            return dflt;
        }
        HostPort hp = HostPort.parse(text);
        if (hp == null) {
            problem(key, "must be host:port, got '" + text + "'");
            return dflt;
        }
        if (hp.port() < 1 || hp.port() > 65535) {
            problem(key, "port must be 1-65535, got " + hp.port());
            return dflt;
        }
        return hp;
    }

    Path file(String key) {
        String text = string(key, null);
        return text == null || text.isBlank() ? null : baseDir.resolve(text);
    }

    /**
     * A secret given inline (a literal or {@code ${ENV_VAR}}) under {@code key}, or read from the
     * file named under {@code key_file}. The value never appears in a problem message.
     */
    Secret secret(String key) {
        String fileKey = key + "_file";
        known.add(key);
        known.add(fileKey);
        boolean inline = map.get(key) != null;
        boolean fromFile = map.get(fileKey) != null;
        if (inline && fromFile) {
            problem(key, "set either " + key + " or " + fileKey + ", not both");
            return Secret.none();
        }
        if (fromFile) {
            Path file = file(fileKey);
            try {
                warnIfOthersMayRead(fileKey, file);
                return Secret.of(Files.readString(file).strip());
            } catch (IOException e) {
                problem(fileKey, "cannot read " + file + " (" + e.getClass().getSimpleName()
                        + "): check the path and that this user may read it");
                return Secret.none();
            }
        }
        Object raw = map.get(key);
        return raw == null ? Secret.none() : Secret.of(substituteEnv(key, raw.toString()));
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(YamlSection.class);

    /** A secret file that the group or everyone may read gets a warning (not an error: the operator may share it on purpose). */
    private void warnIfOthersMayRead(String fileKey, Path file) {
        try {
            var perms = Files.getPosixFilePermissions(file);
            boolean group = perms.contains(java.nio.file.attribute.PosixFilePermission.GROUP_READ);
            boolean others = perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ);
            if (group || others) {
                LOG.warn("{}: {} holds a secret and can be read by {}: chmod 600 {}", path(fileKey), file,
                        others ? "every user of this host" : "its group", file);
            }
        } catch (IOException | UnsupportedOperationException e) {
            // no POSIX permissions here (or the read below fails and says why): nothing to warn about
        }
    }

    Optional<YamlSection> section(String key) {
        known.add(key);
        Object v = map.get(key);
        if (v == null) {
            return Optional.empty();
        }
        if (!(v instanceof Map<?, ?> m)) {
            problem(key, "must be a mapping of keys to values");
            return Optional.empty();
        }
        return Optional.of(new YamlSection(path(key), m, problems, env, baseDir));
    }

    YamlSection sectionOrEmpty(String key) {
        return section(key).orElseGet(() -> new YamlSection(path(key), Map.of(), problems, env, baseDir));
    }

    List<YamlSection> sections(String key) {
        known.add(key);
        Object v = map.get(key);
        List<YamlSection> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (!(v instanceof List<?> list)) {
            problem(key, "must be a list");
            return out;
        }
        for (int i = 0; i < list.size(); i++) {
            String itemPath = path(key) + "[" + i + "]";
            if (list.get(i) instanceof Map<?, ?> m) {
                out.add(new YamlSection(itemPath, m, problems, env, baseDir));
            } else {
                problems.add(itemPath, "must be a mapping of keys to values");
            }
        }
        return out;
    }

    /** Reports every key that no accessor asked for, suggesting the nearest known key. */
    void finish() {
        for (Object k : map.keySet()) {
            String key = String.valueOf(k);
            if (!known.contains(key)) {
                String nearest = Suggest.nearest(key, known);
                problem(key, "unknown key" + (nearest == null
                        ? " (known keys: " + String.join(", ", known) + ")"
                        : "; did you mean '" + nearest + "'?"));
            }
        }
    }

    boolean problemsMentionPath(String key) {
        String prefix = path(key) + ":";
        return problems.list().stream().anyMatch(p -> p.startsWith(prefix));
    }

    private String substituteEnv(String key, String text) {
        Matcher m = ENV_REF.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String value = env.apply(m.group(1));
            if (value == null) {
                problem(key, "environment variable " + m.group(1) + " is not set");
                value = "";
            }
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }
}

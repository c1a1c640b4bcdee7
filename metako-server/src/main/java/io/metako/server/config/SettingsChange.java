package io.metako.server.config;

import io.metako.proto.v1.ClusterSettings;
import io.metako.proto.v1.Setting;
import io.metako.proto.v1.SettingChange;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A change of the replicated cluster-wide settings ({@code metakoctl config set / edit}), checked by the file's
 * rules (every problem at once, with its path) and by what may change on a running cluster. Pure: the caller
 * proposes the result as one log entry.
 *
 * @param settings the settings after the change
 * @param changes  each key whose value changes, old to new, in the file's order (empty: nothing to do)
 */
public record SettingsChange(ClusterSettings settings, List<SettingChange> changes) {
    private static final String SET = "config set";
    private static final String EDIT = "config edit";

    /** {@code current} with each {@code section.key = value} of {@code assignments}; other keys keep their value. */
    public static SettingsChange set(ClusterSettings current, List<Setting> assignments, int nodeCount) {
        return set(current, List.of(), assignments, nodeCount);
    }

    /**
     * Likewise, on a cluster whose replicated synchronous set is {@code synchronousSet} (what the primary may still
     * wait for: see {@link #liveRules}).
     */
    public static SettingsChange set(ClusterSettings current, List<String> synchronousSet, List<Setting> assignments,
                                     int nodeCount) {
        ConfigProblems problems = new ConfigProblems();
        if (assignments.isEmpty()) {
            problems.add("", "nothing to set: give KEY=VALUE, e.g. health_check.interval=500ms");
        }
        Map<String, Map<String, Object>> doc = document(current);
        List<String> known = ClusterSettingsKeys.of(current).stream().map(Setting::getKey).toList();
        for (Setting a : assignments) {
            String key = a.getKey().strip();
            int dot = key.indexOf('.');
            if (!known.contains(key)) {
                String section = dot < 0 ? key : key.substring(0, dot);
                String near = Suggest.nearest(key, known);
                problems.add(key, ClusterWide.SECTIONS.contains(section) || near != null
                        ? "is not a cluster-wide setting" + (near == null ? "" : "; did you mean '" + near + "'?")
                        + " (metakoctl config show lists them)"
                        : "is not a cluster-wide setting: keys of an instance's own file (instance, proxy, nodes,"
                        + " security, http, logging) change in that file, then metakoctl reload");
                continue;
            }
            Object value;
            try {
                value = ConfigLoader.yamlValue(a.getValue(), key);
            } catch (ConfigException e) {
                problems.add(key, "cannot read the value '" + a.getValue() + "': " + String.join("; ", e.problems()));
                continue;
            }
            if (value == null || value instanceof Map || value instanceof List) {
                problems.add(key, "needs a single value (KEY=VALUE), got '" + a.getValue() + "'");
                continue;
            }
            doc.get(key.substring(0, dot)).put(key.substring(dot + 1), value);
        }
        return checked(current, synchronousSet, doc, nodeCount, problems, SET);
    }

    /**
     * The cluster-wide YAML of {@code config edit} in place of {@code current}: read as the file's sections are, a
     * key left out takes its default (the diff shown before applying says so).
     */
    public static SettingsChange replace(ClusterSettings current, String yaml, int nodeCount) {
        return replace(current, List.of(), yaml, nodeCount);
    }

    /** Likewise, on a cluster whose replicated synchronous set is {@code synchronousSet}. */
    public static SettingsChange replace(ClusterSettings current, List<String> synchronousSet, String yaml, int nodeCount) {
        Map<?, ?> doc = yaml.isBlank() ? Map.of() : ConfigLoader.mapping(yaml, EDIT);
        return checked(current, synchronousSet, doc, nodeCount, new ConfigProblems(), EDIT);
    }

    /** The settings as the file's sections, each value as YAML reads it ({@code 1s}, {@code 3}, {@code true}). */
    private static Map<String, Map<String, Object>> document(ClusterSettings s) {
        Map<String, Map<String, Object>> doc = new LinkedHashMap<>();
        for (Setting kv : ClusterSettingsKeys.of(s)) {
            int dot = kv.getKey().indexOf('.');
            doc.computeIfAbsent(kv.getKey().substring(0, dot), k -> new LinkedHashMap<>())
                    .put(kv.getKey().substring(dot + 1), ConfigLoader.yamlValue(kv.getValue(), kv.getKey()));
        }
        return doc;
    }

    private static SettingsChange checked(ClusterSettings current, List<String> synchronousSet, Map<?, ?> doc,
                                          int nodeCount, ConfigProblems problems, String source) {
        ClusterSettings next = new ConfigLoader(name -> null).readClusterWide(doc, nodeCount, problems).toProto();
        liveRules(current, synchronousSet, next, problems);
        problems.throwIfAny(source);
        return new SettingsChange(next, diff(current, next));
    }

    /**
     * What a running cluster cannot take. A shorter {@code failover.lease}: an instance cut off before the change
     * would keep routing writes for the old, longer lease while the leader waits only the new one before it promotes.
     * A higher {@code replication.sync_standbys} in sync mode: until the primary names the larger quorum, a commit
     * acknowledged by fewer standbys than the new count assumes could be missed by a failover. And sync mode again
     * while the synchronous set of the last sync period is still replicated: the primary may still wait for its old
     * count over that set, and a failover would count on the new one.
     */
    private static void liveRules(ClusterSettings current, List<String> synchronousSet, ClusterSettings next,
                                  ConfigProblems problems) {
        // a key with a problem of its own holds its default in next: comparing it would report a change nobody asked for
        java.util.function.Predicate<String> valid = key -> problems.list().stream()
                .noneMatch(p -> p.startsWith(key + ":") || p.startsWith(key.substring(0, key.indexOf('.')) + ":"));
        long oldLease = current.getFailover().getLeaseMillis();
        long newLease = next.getFailover().getLeaseMillis();
        if (oldLease > 0 && newLease < oldLease && valid.test("failover.lease")) {
            problems.add("failover.lease", "cannot be shortened on a running cluster (" + Units.formatDuration(
                    java.time.Duration.ofMillis(oldLease)) + " now): an instance cut off before the change would keep"
                    + " routing writes for the old lease while the leader waits only the new one before it promotes."
                    + " A longer lease is applied live; a shorter one needs a new cluster (fresh Raft storage, seeded"
                    + " from a file with the new value)");
        }
        boolean wasSync = "sync".equals(current.getReplication().getMode());
        boolean isSync = "sync".equals(next.getReplication().getMode());
        if (wasSync && isSync && next.getReplication().getSyncStandbys() > current.getReplication().getSyncStandbys()
                && valid.test("replication.sync_standbys") && valid.test("replication.mode")) {
            problems.add("replication.sync_standbys", "cannot be raised while replication.mode is sync ("
                    + current.getReplication().getSyncStandbys() + " now): until the primary waits for the larger"
                    + " quorum, a failover counting on it could miss an acknowledged commit. Lowering it is live; to"
                    + " raise it, set replication.mode=async, then replication.mode=sync with the new"
                    + " replication.sync_standbys (commits are not synchronous in between)");
        }
        if (!wasSync && isSync && !synchronousSet.isEmpty() && valid.test("replication.mode")) {
            problems.add("replication.mode", "cannot return to sync while the synchronous set of the last sync period "
                    + synchronousSet + " is still being cleared (the primary may still wait for it): try again once"
                    + " metakoctl status shows no synchronous standbys");
        }
    }

    private static List<SettingChange> diff(ClusterSettings current, ClusterSettings next) {
        Map<String, String> before = new LinkedHashMap<>();
        ClusterSettingsKeys.of(current).forEach(s -> before.put(s.getKey(), s.getValue()));
        List<SettingChange> out = new ArrayList<>();
        for (Setting s : ClusterSettingsKeys.of(next)) {
            String old = before.get(s.getKey());
            if (!s.getValue().equals(old)) {
                out.add(SettingChange.newBuilder().setKey(s.getKey()).setOldValue(old == null ? "" : old)
                        .setNewValue(s.getValue()).build());
            }
        }
        return out;
    }
}

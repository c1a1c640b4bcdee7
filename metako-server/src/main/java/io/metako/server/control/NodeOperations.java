package io.metako.server.control;

import io.metako.proto.v1.Node;
import io.metako.server.config.MetakoConfig;
import io.metako.server.config.NodeConfig;
import io.metako.server.config.Secret;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/**
 * The SQL side of a failover, each operation safe to repeat: fence an old primary, promote a
 * replica, re-point a replica at the primary. Runs on the controller's thread, never on an
 * event loop; every connection has connect and socket timeouts.
 */
public final class NodeOperations {
    private static final int PROMOTE_WAIT_SECONDS = 30;

    /** The instance's configuration: node credentials and replication.passfile change with a reload. */
    private final java.util.function.Supplier<MetakoConfig> config;

    public NodeOperations(MetakoConfig config) {
        this(() -> config);
    }

    public NodeOperations(java.util.function.Supplier<MetakoConfig> config) {
        this.config = config;
    }

    /**
     * Best effort: read-only by default, then every client session but this one ended. Only this
     * connection's own pid is spared: an {@code application_name} is the client's to choose, so it
     * exempts nothing (metako's probes reconnect). Returns how many sessions were ended.
     */
    public int fence(Node node) throws SQLException {
        try (Connection c = connect(node, 5); Statement st = c.createStatement()) {
            st.execute("ALTER SYSTEM SET default_transaction_read_only = on");
            st.execute("SELECT pg_reload_conf()");
            // without superuser (deploy/metako-role.sql: pg_signal_backend) a superuser's session cannot be ended, and
            // trying raises an error that would end the whole statement: those are left out, as the docs say
            try (ResultSet rs = st.executeQuery("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity a "
                    + "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND (current_setting('is_superuser')::bool"
                    + " OR NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = a.usesysid AND r.rolsuper))")) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /** Lifts a fence: writes are accepted again. */
    public void unfence(Node node) throws SQLException {
        try (Connection c = connect(node, 5); Statement st = c.createStatement()) {
            st.execute("ALTER SYSTEM RESET default_transaction_read_only");
            st.execute("SELECT pg_reload_conf()");
        }
    }

    /** Promotes {@code node} (a no-op when it already left recovery) and returns its new timeline. */
    public long promote(Node node, String synchronousStandbyNames) throws SQLException {
        try (Connection c = connect(node, PROMOTE_WAIT_SECONDS + 10); Statement st = c.createStatement()) {
            if (synchronousStandbyNames != null) {
                // before the promotion: the first commit on the new primary already waits for a standby
                st.execute(synchronousStandbyNames.isEmpty() ? "ALTER SYSTEM RESET synchronous_standby_names"
                        : "ALTER SYSTEM SET synchronous_standby_names = " + sqlLiteral(synchronousStandbyNames));
                st.execute("SELECT pg_reload_conf()");
            }
            if (inRecovery(st)) {
                try (ResultSet rs = st.executeQuery("SELECT pg_promote(true, " + PROMOTE_WAIT_SECONDS + ")")) {
                    rs.next();
                    if (!rs.getBoolean(1)) {
                        throw new SQLException(node.getName() + " did not leave recovery within " + PROMOTE_WAIT_SECONDS + "s");
                    }
                }
            }
            if (inRecovery(st)) {
                throw new SQLException(node.getName() + " is still in recovery after pg_promote");
            }
            // a node fenced in an earlier life must accept writes now
            st.execute("ALTER SYSTEM RESET default_transaction_read_only");
            st.execute("SELECT pg_reload_conf()");
            try (ResultSet rs = st.executeQuery("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")) {
                rs.next();
                return Long.parseLong(rs.getString(1), 16);
            }
        }
    }

    /**
     * {@code CHECKPOINT} on {@code node}: after a promotion, the control file names the new timeline only from the
     * next checkpoint, and pg_rewind reads the source's timeline there: before it, pg_rewind finds "no rewind
     * required" and leaves the old primary unable to follow the new timeline.
     */
    public void checkpoint(Node node) throws SQLException {
        try (Connection c = connect(node, 60); Statement st = c.createStatement()) {
            st.execute("CHECKPOINT");
        }
    }

    /** {@code pg_postmaster_start_time()} of {@code node} in microseconds since the epoch, as its clock has it. */
    public long postmasterStartMicros(Node node) throws SQLException {
        try (Connection c = connect(node, 5); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT (EXTRACT(EPOCH FROM pg_postmaster_start_time()) * 1000000)::bigint")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Sets the primary's {@code synchronous_standby_names} ({@code value} empty: reset) and reloads. */
    public void configureSync(Node primary, String value) throws SQLException {
        try (Connection c = connect(primary, 5); Statement st = c.createStatement()) {
            st.execute(value.isEmpty() ? "ALTER SYSTEM RESET synchronous_standby_names"
                    : "ALTER SYSTEM SET synchronous_standby_names = " + sqlLiteral(value));
            st.execute("SELECT pg_reload_conf()");
        }
    }

    /** Points {@code replica} at {@code primary}; PostgreSQL 13+ applies it on reload. */
    public void repoint(Node replica, Node primary) throws SQLException {
        NodeConfig login = config.get().node(primary.getName()).orElse(null);
        String user = login == null ? "postgres" : login.username();
        Secret password = login == null ? Secret.none() : login.password();
        StringBuilder conninfo = new StringBuilder()
                .append("host=").append(io.metako.server.pg.Conninfo.value(primary.getHost()))
                .append(" port=").append(primary.getPort())
                .append(" user=").append(io.metako.server.pg.Conninfo.value(user))
                .append(" application_name=").append(io.metako.server.pg.Conninfo.value(replica.getName()));
        java.util.Optional<String> passfile = config.get().replication().passfile();
        if (passfile.isPresent()) {
            conninfo.append(" passfile=").append(io.metako.server.pg.Conninfo.value(passfile.get())); // the password stays out of the node's config
        } else if (password.isPresent()) {
            conninfo.append(" password=").append(io.metako.server.pg.Conninfo.value(password.reveal()));
        }
        try (Connection c = connect(replica, 5); Statement st = c.createStatement()) {
            st.execute("ALTER SYSTEM SET primary_conninfo = " + sqlLiteral(conninfo.toString()));
            st.execute("SELECT pg_reload_conf()");
        }
    }

    private static boolean inRecovery(Statement st) throws SQLException {
        try (ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /**
     * Logs in to {@code node} with this configuration's credentials for it and logs out: null when that worked or the
     * node could not be reached at all, else why the node refused the login (a reload checks new credentials so).
     */
    public String loginRefusal(Node node) {
        try (Connection c = connect(node, 5)) {
            return null;
        } catch (SQLException e) {
            String state = e.getSQLState() == null ? "" : e.getSQLState();
            // 28xxx: invalid authorization; 3D000: no such database
            return state.startsWith("28") || state.equals("3D000") ? io.metako.server.logging.Failures.firstLine(e) : null;
        }
    }

    private Connection connect(Node node, int socketTimeoutSeconds) throws SQLException {
        NodeConfig login = config.get().node(node.getName()).orElse(null);
        Properties p = new Properties();
        p.setProperty("user", login == null ? "postgres" : login.username());
        if (login != null && login.password().isPresent()) {
            p.setProperty("password", login.password().reveal());
        }
        p.setProperty("connectTimeout", "2");
        p.setProperty("socketTimeout", Integer.toString(socketTimeoutSeconds));
        p.setProperty("ApplicationName", "pg-metako controller");
        p.setProperty("preferQueryMode", "simple");
        config.get().security().jdbcProperties().forEach(p::setProperty);
        String db = login == null ? "postgres" : login.database();
        io.metako.server.config.HostPort address = config.get().nodeAddressOverride(node.getName())
                .orElse(new io.metako.server.config.HostPort(node.getHost(), node.getPort()));
        return DriverManager.getConnection("jdbc:postgresql://" + address + "/" + db, p);
    }


    /** An SQL string literal. */
    static String sqlLiteral(String v) {
        return "'" + v.replace("'", "''") + "'";
    }
}

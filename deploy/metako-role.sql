-- The login pg-metako operates PostgreSQL 15 nodes with, without superuser: the rights of nodes[].username.
-- Run once as a superuser on the primary (roles and grants reach the replicas by replication), then set its
-- password without writing it down anywhere: in psql, \password metako. LeastPrivilegeIT runs this file.
--   psql -h PRIMARY -U postgres -d postgres -v ON_ERROR_STOP=1 -f deploy/metako-role.sql
CREATE ROLE metako LOGIN REPLICATION;
-- probes: pg_stat_replication and pg_stat_activity of every session
GRANT pg_monitor TO metako;
-- fencing an old primary ends its other sessions (not those of superusers)
GRANT pg_signal_backend TO metako;
-- a CHECKPOINT on the new primary before a rewind against it (the new timeline reaches its control file)
GRANT pg_checkpoint TO metako;
-- failover and switchover
GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO metako;
GRANT EXECUTE ON FUNCTION pg_reload_conf() TO metako;
-- the only settings it changes (ALTER SYSTEM: postgresql.auto.conf)
GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only, synchronous_standby_names, primary_conninfo TO metako;
-- pg_rewind of a node against this one reads its files through this login
GRANT EXECUTE ON FUNCTION pg_ls_dir(text, boolean, boolean) TO metako;
GRANT EXECUTE ON FUNCTION pg_stat_file(text, boolean) TO metako;
GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO metako;
GRANT EXECUTE ON FUNCTION pg_read_binary_file(text, bigint, bigint, boolean) TO metako;

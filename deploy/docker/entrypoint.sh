#!/usr/bin/env bash
# Starts this container's PostgreSQL node (created on the first start: initdb on the first primary, a
# pg_basebackup of it elsewhere), then the metako instance that manages it, as the postgres user.
#
# Environment:
#   METAKO_ID         this instance, e.g. metako-1 (also its host name on the network)
#   METAKO_MEMBERS    every instance's host name, e.g. metako-1,metako-2,metako-3; node pg-N runs beside metako-N
#   METAKO_PRIMARY    the instance whose node is the first primary (default: the first member)
#   METAKO_TOKEN      the admin API's bearer token (at least 16 characters)
#   PG_PASSWORD       password of the metako superuser on the nodes
#   APP_PASSWORD      password of the application user "app" (the proxies' user and a role on the nodes)
#   METAKO_CLUSTER    cluster_name (default: metako)
#   METAKO_HEALTH_INTERVAL  health_check.interval (default: 1s); health_check.timeout is the same
set -euo pipefail

# docker stop (SIGTERM) before the instance runs (e.g. during the first clone): stop what runs, then leave
instance=""
stop_all() {
  if [ -n "$instance" ]; then kill -TERM "$instance" 2>/dev/null || true; wait "$instance" 2>/dev/null || true; fi
  if [ -s /var/lib/postgresql/data/PG_VERSION ]; then
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/data -m fast -w stop >/dev/null 2>&1 || true
  fi
  exit 0
}
trap stop_all TERM INT

: "${METAKO_ID:?METAKO_ID is required, e.g. metako-1}"
: "${METAKO_MEMBERS:?METAKO_MEMBERS is required, e.g. metako-1,metako-2,metako-3}"
: "${METAKO_TOKEN:?METAKO_TOKEN is required (16+ characters: openssl rand -hex 24)}"
: "${PG_PASSWORD:?PG_PASSWORD is required}"
: "${APP_PASSWORD:?APP_PASSWORD is required}"
IFS=',' read -r -a members <<< "$METAKO_MEMBERS"
primary="${METAKO_PRIMARY:-${members[0]}}"
bin=/usr/lib/postgresql/15/bin
data=/var/lib/postgresql/data
conf=/var/lib/metako/metako.yaml
node_of() { echo "pg-${1##*-}"; }

# the node's processes get none of the secrets in their environment (every backend could read them)
as_postgres() { runuser -u postgres -- env -u METAKO_TOKEN -u PG_PASSWORD -u APP_PASSWORD "$@"; }
raft_state=/var/lib/metako/raft-state
rejoin_marker=/var/lib/postgresql/data.metako-rejoin
chown postgres:postgres /var/lib/postgresql /var/lib/metako
install -d -o postgres -g postgres /var/run/postgresql
first_start=1
[ -d "$raft_state" ] && [ -n "$(ls -A "$raft_state" 2>/dev/null)" ] && first_start=0
if [ ! -s "$data/PG_VERSION" ] && [ "$first_start" = 1 ]; then
  # a node is created only on the container's first start, in a folder moved into place once complete: after
  # that, a missing or half-made data directory is the instance's to repair (its rejoin resumes), never a new one
  work=/var/lib/postgresql/data.init
  rm -rf "$work"; install -d -o postgres -g postgres -m 0700 "$work"
  if [ "$METAKO_ID" = "$primary" ]; then
    echo "metako-entrypoint: initdb of $(node_of "$METAKO_ID") (the first primary)"
    pw="$(mktemp)"; printf '%s\n' "$PG_PASSWORD" > "$pw"; chown postgres "$pw"
    as_postgres "$bin/initdb" -D "$work" -U metako --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
      --data-checksums >/dev/null
    rm -f "$pw"
    cat >> "$work/postgresql.conf" <<CONF
listen_addresses = '*'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_log_hints = on
max_connections = 200
CONF
    cat >> "$work/pg_hba.conf" <<HBA
host all all 0.0.0.0/0 scram-sha-256
host replication all 0.0.0.0/0 scram-sha-256
HBA
    as_postgres "$bin/pg_ctl" -D "$work" -w -o "-c listen_addresses=''" -l /var/lib/metako/postgres-init.log start >/dev/null
    # the password on stdin, not on a command line (ps would show it)
    printf "CREATE ROLE app LOGIN PASSWORD '%s';\nCREATE DATABASE app OWNER app;\n" \
      "$(printf '%s' "$APP_PASSWORD" | sed "s/'/''/g")" | as_postgres "$bin/psql" -q -X -v ON_ERROR_STOP=1 \
      -h /var/run/postgresql -U metako -d postgres
    as_postgres "$bin/pg_ctl" -D "$work" -w stop >/dev/null
  else
    echo "metako-entrypoint: cloning $(node_of "$METAKO_ID") from $primary (pg_basebackup)"
    # a password file, not PGPASSWORD: pg_basebackup -R would write the password into postgresql.auto.conf
    pass=/var/lib/metako/.pgpass
    printf '*:*:*:metako:%s\n' "$(printf '%s' "$PG_PASSWORD" | sed 's/[\\:]/\\&/g')" > "$pass"
    chown postgres "$pass"; chmod 0600 "$pass"
    until PGPASSFILE="$pass" as_postgres "$bin/pg_isready" -q -h "$primary" -U metako -d postgres; do sleep 1; done
    for _ in $(seq 1 60); do
      if PGPASSFILE="$pass" as_postgres "$bin/pg_basebackup" -h "$primary" -U metako -D "$work" -R -X stream \
           -c fast; then break; fi
      find "$work" -mindepth 1 -delete; sleep 2
    done
  fi
  [ -s "$work/PG_VERSION" ] || { echo "metako-entrypoint: the node could not be created" >&2; exit 1; }
  rm -rf "$data"; mv "$work" "$data"
fi
# a rejoin killed halfway (its marker beside the data) or a missing data directory: the node stays stopped and
# the instance resumes the rejoin; otherwise start it as it is (a former primary read-only: see below)
if [ -e "$rejoin_marker" ] || [ ! -s "$data/PG_VERSION" ]; then
  echo "metako-entrypoint: $(node_of "$METAKO_ID") is not started: a rejoin is unfinished; the instance resumes it"
elif ! as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  if [ "$first_start" = 0 ] && [ ! -e "$data/standby.signal" ]; then
    # a former primary starts read-only (where ALTER SYSTEM keeps it): the Raft leader lifts that at once if the
    # log still names it the primary, never if the cluster failed over meanwhile, so a container that comes back
    # cut off from the quorum takes no writes from clients that keep the default
    as_postgres sed -i '/^default_transaction_read_only/d' "$data/postgresql.auto.conf"
    echo "default_transaction_read_only = 'on'" | as_postgres tee -a "$data/postgresql.auto.conf" >/dev/null
  fi
  # a node stopped by a kill of the container left a stale postmaster.pid; pg_ctl start copes with that
  as_postgres "$bin/pg_ctl" -D "$data" -w -t 120 -l /var/lib/metako/postgres.log start >/dev/null
fi

{
  echo "cluster_name: ${METAKO_CLUSTER:-metako}"
  echo "instance:"
  echo "  id: $METAKO_ID"
  echo "  raft_address: $METAKO_ID:7100"
  echo "  grpc_address: $METAKO_ID:7200"
  echo "  http_address: 0.0.0.0:8080"
  echo "  storage_dir: /var/lib/metako/raft-state"
  echo "  auth_token: \${METAKO_TOKEN}"
  echo "  manages:"
  echo "    node: $(node_of "$METAKO_ID")"
  echo "    data_dir: $data"
  echo "    bin_dir: $bin"
  echo "peers:"
  for m in "${members[@]}"; do
    echo "  - id: $m"; echo "    raft_address: $m:7100"; echo "    grpc_address: $m:7200"
  done
  echo "proxy:"
  echo "  listen_host: 0.0.0.0"
  echo "  port: 6432"
  echo "  rw_port: 6433"
  echo "  ro_port: 6434"
  echo "  failover_wait: 10s"
  echo "  client_auth: scram-sha-256"
  echo "  users:"
  echo "    - name: app"
  echo "      password: \${APP_PASSWORD}"
  echo "nodes:"
  for m in "${members[@]}"; do
    echo "  - name: $(node_of "$m")"; echo "    host: $m"; echo "    port: 5432"
    if [ "$m" = "$primary" ]; then echo "    role: primary"; else echo "    role: replica"; fi
    echo "    username: metako"; echo "    password: \${PG_PASSWORD}"; echo "    database: postgres"
  done
  echo "health_check:"
  echo "  interval: ${METAKO_HEALTH_INTERVAL:-1s}"
  echo "  timeout: ${METAKO_HEALTH_INTERVAL:-1s}"
  echo "failover:"
  echo "  cooldown: 10s"
  echo "http:"
  echo "  auth: none"
} > "$conf"
chown postgres "$conf"
cd /var/lib/metako
# setpriv, not runuser: runuser stays as a parent and kills its child 2 s after forwarding SIGTERM, cutting the
# instance's shutdown short; with setpriv the JVM itself is the process we signal
HOME=/var/lib/postgresql USER=postgres setpriv --reuid=postgres --regid=postgres --init-groups \
  /opt/pg-metako/bin/metako --config "$conf" &
instance=$!
status=0
wait "$instance" || status=$?
instance=""
as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
exit "$status"

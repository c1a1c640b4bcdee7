#!/usr/bin/env bash
# SystemdUnitsIT: a host as docs/operations.md describes it, inside a container whose PID 1 is systemd: a
# PostgreSQL 15 node on 127.0.0.1:5432, the metako service user, /etc/metako/metako-1.{yaml,env}, both units
# from the installed archive (/opt/pg-metako/deploy). Java on the PATH, as a host's JRE package puts it.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
install -d -o postgres -g postgres /var/run/postgresql
pw="$(mktemp)"; printf '%s\n' "$PG_PASSWORD" > "$pw"; chown postgres "$pw"
runuser -u postgres -- "$bin/initdb" -D /var/lib/postgresql/data -U postgres --pwfile="$pw" --auth-local=trust \
  --auth-host=scram-sha-256 >/dev/null
rm -f "$pw"
runuser -u postgres -- "$bin/pg_ctl" -D /var/lib/postgresql/data -l /var/lib/postgresql/postgres.log -w \
  -o "-c listen_addresses=127.0.0.1" start >/dev/null
useradd --system --home /var/lib/metako --shell /usr/sbin/nologin metako
install -d -m 0750 -o root -g metako /etc/metako   # as docs/operations.md installs it
write_config() { # $1: extra lines under instance:
  cat > /etc/metako/metako-1.yaml <<YAML
cluster_name: systemd
instance:
  id: metako-1
  raft_address: 127.0.0.1:7100
  grpc_address: 127.0.0.1:7200
  http_address: 127.0.0.1:8080
  storage_dir: /var/lib/metako/metako-1
  auth_token: \${METAKO_TOKEN}
$1
peers:
  - id: metako-1
    raft_address: 127.0.0.1:7100
    grpc_address: 127.0.0.1:7200
proxy:
  listen_host: 127.0.0.1
  port: 6432
nodes:
  - name: pg-1
    host: 127.0.0.1
    port: 5432
    role: primary
    username: postgres
    password: \${PG_PASSWORD}
    database: postgres
health_check:
  interval: 500ms
  timeout: 500ms
logging:
  level: info
YAML
  chgrp metako /etc/metako/metako-1.yaml; chmod 0640 /etc/metako/metako-1.yaml
}
write_config ""
cp /etc/metako/metako-1.yaml /etc/metako/plain.yaml
write_config "  manages:
    node: pg-1
    data_dir: /var/lib/postgresql/data
    bin_dir: $bin"
# metako-managed@managed: the same instance managing the node, with its own Raft state
sed 's|/var/lib/metako/metako-1|/var/lib/metako/managed|' /etc/metako/metako-1.yaml > /etc/metako/managed.yaml
chgrp metako /etc/metako/managed.yaml; chmod 0640 /etc/metako/managed.yaml
cp /etc/metako/plain.yaml /etc/metako/metako-1.yaml
(umask 077; printf 'METAKO_TOKEN=%s\nPG_PASSWORD=%s\n' "$METAKO_TOKEN" "$PG_PASSWORD" > /etc/metako/metako-1.env)
cp -p /etc/metako/metako-1.env /etc/metako/managed.env
cp /opt/pg-metako/deploy/metako@.service /opt/pg-metako/deploy/metako-managed@.service /etc/systemd/system/
ln -sf /opt/java/bin/java /usr/local/bin/java
systemctl daemon-reload
echo "host ready"

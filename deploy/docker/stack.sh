#!/usr/bin/env bash
# deploy/deploy.sh --docker VERB: the compose stack of deploy/docker/compose.yaml.
#   setup     build the image (from the release archive; mvn package when it is missing) and write
#             deploy/docker/.env with fresh secrets (kept when it exists)
#   start     start the three containers and wait until every instance answers; print how to connect
#   stop      stop the containers (volumes, data and the Raft state stay)
#   restart   restart the containers one at a time, data kept
#   status    metakoctl status against the three admin APIs
#   logs      follow the containers' output, or one's (logs metako-2)
#   cleanup   remove the containers, the network and the volumes (the data is gone)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
env_file="$here/.env"
# the version: the source tree's pom.xml, or the installed archive's folder name (metako-VERSION)
if [ -f "$root/pom.xml" ]; then
  version="$(sed -n 's:^  <version>\(.*\)</version>.*:\1:p' "$root/pom.xml" | head -n 1)"
else
  version="$(basename "$root")"; version="${version#metako-}"
fi
endpoints="127.0.0.1:11200,127.0.0.1:12200,127.0.0.1:13200"

compose() {
  local files=(--env-file "$env_file" -f "$here/compose.yaml" -p pg-metako)
  if docker compose version >/dev/null 2>&1; then docker compose "${files[@]}" "$@"; else docker-compose "${files[@]}" "$@"; fi
}

need_env() {
  [ -f "$env_file" ] || { echo "no $env_file: run 'deploy/deploy.sh --docker setup' first" >&2; exit 1; }
  set -a; source "$env_file"; set +a
}

cmd_setup() {
  command -v docker >/dev/null 2>&1 || { echo "docker is not installed (Debian: apt-get install docker.io docker-compose)" >&2; exit 1; }
  # the archive first: secrets must never be written where a build could pack them
  local archive="$root/metako-dist/target/metako-$version.tar.gz"
  if [ ! -f "$archive" ] && [ -d "$root/lib" ]; then
    archive="$(mktemp -d)/metako-$version.tar.gz"          # an installed archive: pack it again
    tar -C "$(dirname "$root")" -czf "$archive" --exclude='.env' "$(basename "$root")"
  elif [ ! -f "$archive" ]; then
    echo "building the release archive (mvn -DskipTests package) ..."
    (cd "$root" && mvn -B -q -DskipTests package)
  fi
  local ctx; ctx="$(mktemp -d)"
  cp "$here/Dockerfile" "$here/entrypoint.sh" "$archive" "$ctx/"
  echo "building the image pg-metako:$version ..."
  docker build -q --build-arg VERSION="$version" -t "pg-metako:$version" "$ctx"
  rm -rf "$ctx"
  docker image ls "pg-metako:$version" --format 'image {{.Repository}}:{{.Tag}}, {{.Size}}'
  if [ ! -f "$env_file" ]; then
    (umask 077
     printf 'METAKO_VERSION=%s\nMETAKO_TOKEN=%s\nPG_PASSWORD=%s\nAPP_PASSWORD=%s\n' "$version" \
       "$(openssl rand -hex 24)" "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" > "$env_file")
    echo "wrote $env_file (secrets: keep it private)"
  fi
}

ctl() { METAKO_ENDPOINTS="$endpoints" METAKO_TOKEN="$METAKO_TOKEN" "$root/bin/metakoctl" "$@"; }

# every instance answers and holds its write lease
all_ready() {
  local port
  for port in 11200 12200 13200; do
    METAKO_ENDPOINTS="127.0.0.1:$port" METAKO_TOKEN="$METAKO_TOKEN" "$root/bin/metakoctl" -o json status 2>/dev/null \
      | grep -q '"holds_lease": true' || return 1
  done
}

# within $1 seconds (each round runs metakoctl three times: count time, not rounds)
await_ready() {
  local deadline=$((SECONDS + $1))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if all_ready; then return 0; fi
    sleep 1
  done
  return 1
}

cmd_start() {
  need_env
  compose up -d
  echo "waiting for the instances (the first start creates the nodes) ..."
  if ! await_ready 120; then
    echo "not ready after 120 s; the last lines of each container (all: deploy/deploy.sh --docker logs):" >&2
    compose logs --tail=20 >&2 || true
    exit 1
  fi
  ctl status | sed -n 1,12p
  cat <<CONNECT

connect through any instance's statement router (password: APP_PASSWORD in $env_file):
  psql "host=127.0.0.1 port=11432 user=app dbname=app"     (or ports 12432, 13432)
operate:
  METAKO_ENDPOINTS=$endpoints METAKO_TOKEN=... bin/metakoctl status
CONNECT
}

# one container at a time, the next once every instance holds its lease again
cmd_restart() {
  need_env
  for s in metako-1 metako-2 metako-3; do
    compose restart "$s"
    sleep 2
    if ! await_ready 180; then echo "$s did not come back within 180 s: deploy/deploy.sh --docker logs $s" >&2; exit 1; fi
  done
  echo "restarted, one at a time"
}

case "${1:-}" in
  setup) cmd_setup ;;
  start) cmd_start ;;
  stop) need_env; compose stop ;;
  restart) cmd_restart ;;
  status) need_env; ctl status ;;
  logs) need_env; shift; compose logs -f --tail=100 ${1:+"$1"} ;;
  cleanup) need_env; compose down -v --remove-orphans ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

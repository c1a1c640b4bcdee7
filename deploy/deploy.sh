#!/usr/bin/env bash
# Manage a pg-metako stack (3 PostgreSQL nodes + 3 metako instances) with the verbs the Go pg-metako's
# scripts/deploy.sh had: setup, start, stop, restart, status, logs, cleanup.
#   deploy/deploy.sh VERB            local processes under $METAKO_DEPLOY_DIR (as `metako demo` builds them)
#   deploy/deploy.sh --docker VERB   three containers of the image in deploy/docker (compose.yaml): each a
#                                    PostgreSQL node and the instance that manages it; only cleanup deletes data
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = "--docker" ]; then
  shift
  exec "$root/deploy/docker/stack.sh" "$@"
fi
env_file="$root/deploy/.env"
from_env="${METAKO_DEPLOY_DIR:-}"   # the environment wins over deploy/.env
[ -f "$env_file" ] && source "$env_file"
dir="${from_env:-${METAKO_DEPLOY_DIR:-/tmp/pg-metako-stack}}"
pid_file="$dir.pid"
out_file="$dir.out"

running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

endpoints() { grep -o '"grpc": "[^"]*"' "$dir/endpoints.json" | cut -d'"' -f4 | paste -sd,; }

usage() {
  cat <<USAGE
usage: deploy/deploy.sh [--docker] setup|start|stop|restart|status|logs [INSTANCE]|cleanup

  (--docker: the containers of deploy/docker/compose.yaml instead; see deploy/docker/stack.sh)

  setup     write deploy/.env (METAKO_DEPLOY_DIR, METAKO_HEALTH_INTERVAL) to edit
  start     start the stack in the background and wait until it is ready (the first start creates it in
            $dir; later ones start it again as stop left it: data, roles, Raft state, ports)
  stop      stop every process of the stack (data stays in $dir)
  restart   stop, then start again (data kept; only cleanup deletes it)
  status    metakoctl status against the stack
  logs      tail the stack's output, or one instance's log (e.g. logs metako-2)
  cleanup   stop and delete $dir
USAGE
}

cmd_setup() {
  if [ -f "$env_file" ]; then echo "$env_file exists; edit it"; return; fi
  printf 'METAKO_DEPLOY_DIR=%s\nMETAKO_HEALTH_INTERVAL=1s\n' "$dir" > "$env_file"
  echo "wrote $env_file"
}

cmd_start() {
  if running; then echo "already running (pid $(cat "$pid_file"))"; return; fi
  local first=(--health-interval "${METAKO_HEALTH_INTERVAL:-1s}")   # later starts keep the cluster's settings
  if [ -e "$dir" ]; then echo "starting the stack kept in $dir again ..."; first=(); fi
  nohup "$root/bin/metako" demo --dir "$dir" ${first[@]+"${first[@]}"} > "$out_file" 2>&1 &
  echo $! > "$pid_file"
  echo "starting (pid $!, output in $out_file) ..."
  for _ in $(seq 1 240); do
    if grep -q "pg-metako demo is ready" "$out_file" 2>/dev/null; then
      sed -n '/^PostgreSQL nodes:/,$p' "$out_file"; return
    fi
    if ! running; then cat "$out_file" >&2; echo "start failed" >&2; exit 1; fi
    sleep 0.5
  done
  echo "not ready after 120s; see $out_file" >&2; exit 1
}

cmd_stop() {
  if ! running; then echo "not running"; rm -f "$pid_file"; return; fi
  local pid; pid="$(cat "$pid_file")"
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "pid $pid is still stopping after 60 s (see $out_file); run stop again, or kill -9 it" >&2; exit 1
  fi
  rm -f "$pid_file"
  echo "stopped"
}

cmd_status() {
  if ! running; then echo "not running"; exit 3; fi
  local ca=""; [ -f "$dir/pki/ca.crt" ] && ca="$dir/pki/ca.crt"
  METAKO_ENDPOINTS="$(endpoints)" METAKO_TOKEN="$(cat "$dir/token")" METAKO_CACERT="$ca" "$root/bin/metakoctl" status
}

cmd_logs() {
  if [ -n "${1:-}" ]; then tail -n 100 -f "$dir/$1.log"; else tail -n 100 -f "$out_file"; fi
}

cmd_cleanup() {
  cmd_stop
  rm -rf "$dir" "$out_file"
  echo "removed $dir"
}

case "${1:-}" in
  setup) cmd_setup ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "${1:-}" ;;
  cleanup) cmd_cleanup ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Proxy benchmark: pgbench select-only (-M simple and -M prepared) and TPC-B-like, 1 and 8 clients,
# against PostgreSQL directly, metako's statement router (proxy.port) and rw_port (plain
# forwarding), PgBouncer (session mode) and HAProxy (TCP mode), all from apt, in the same run.
# Prints TPS, average latency, the ratio to direct, and the proxy's CPU time per 1,000 transactions
# from /proc: for metako both the proxy's event-loop threads alone and the whole instance JVM.
# Asserts nothing.
#   scripts/proxy-bench.sh [SECONDS]            (default 20 per run)
#   scripts/proxy-bench.sh --goal [ROUNDS] [SECONDS]
#       only the goal runs (8 clients select-only, -M simple and -M prepared: router vs PgBouncer,
#       rw_port vs HAProxy) after a warm-up, ROUNDS alternating rounds (default 3, 15 s each), each row with the
#       proxy's context switches per transaction and the share of the machine's CPU left idle during the run
#       (idle + iowait: a closed-loop run that leaves CPU idle is bound by latency, not by CPU); then the
#       median of each ratio. This machine's noise is +-15% per run: decide an A/B on the medians of several
#       rounds, never on one run.
#   scripts/proxy-bench.sh --latency [ROUNDS] [SECONDS]
#       one client, select-only, -M simple and -M prepared: the average latency per transaction through
#       the router (to the primary), rw_port, PgBouncer, HAProxy and directly, ROUNDS alternating rounds
#       (default 3, 8 s each), then the median of each. With one client nothing is batched, so this is
#       what each proxy adds to one round trip.
#   scripts/proxy-bench.sh --pairs [PAIRS] [SECONDS]
#       the router goal alone, as an A/B that survives this machine's drift: the router (to the primary)
#       against PgBouncer, 8 clients select-only, -M simple and -M prepared, both sending the same SQL
#       text, in PAIRS back-to-back pairs (default 12, 8 s per run) whose order alternates (AB, BA, ...);
#       prints the geometric mean of the paired ratios with its 95% confidence interval, for tps and for
#       CPU per transaction, and the mean share of idle CPU behind each. An interval that holds 1.0 means:
#       not distinguishable here.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
goal_rounds=0; latency_rounds=0; pairs=0
if [ "${1:-}" = "--goal" ]; then goal_rounds="${2:-3}"; secs="${3:-15}"
elif [ "${1:-}" = "--pairs" ]; then pairs="${2:-12}"; secs="${3:-8}"
elif [ "${1:-}" = "--latency" ]; then latency_rounds="${2:-3}"; secs="${3:-8}"
else secs="${1:-20}"; fi
command -v haproxy >/dev/null || { echo "haproxy is missing: apt-get install -y haproxy" >&2; exit 1; }
command -v pgbouncer >/dev/null || { echo "pgbouncer is missing: apt-get install -y pgbouncer" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "pgbench is missing: apt-get install -y postgresql-client" >&2; exit 1; }
# The demo's statement router offers TLS (since 6d4df8c) and pgbench's libpq takes it when offered, while PgBouncer
# and HAProxy here run plaintext: compare like with like unless told otherwise (PGSSLMODE=require measures TLS).
export PGSSLMODE="${PGSSLMODE:-disable}"
dir="$(mktemp -d /tmp/metako-proxy-bench-XXXX)"
chmod 755 "$dir"
rmdir "$dir"
demo_pid=""; haproxy_pid=""; bouncer_pid=""
cleanup() {
  [ -n "$haproxy_pid" ] && kill "$haproxy_pid" 2>/dev/null || true
  [ -n "$bouncer_pid" ] && kill "$bouncer_pid" 2>/dev/null || true
  if [ -n "$demo_pid" ]; then kill -TERM "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

echo "starting a demo cluster in $dir ..."
"$root/bin/metako" demo --dir "$dir" > "$dir.out" 2>&1 &
demo_pid=$!
for _ in $(seq 1 240); do grep -q "pg-metako demo is ready" "$dir.out" 2>/dev/null && break; sleep 0.5; done
grep -q "pg-metako demo is ready" "$dir.out" || { cat "$dir.out"; exit 1; }
mv "$dir.out" "$dir/demo.out"

json="$dir/endpoints.json"
pg_port=$(grep -o '"name": "pg-1", "host": "[^"]*", "port": [0-9]*' "$json" | grep -o '[0-9]*$')
rw_port=$(grep -o '"rw": "[^"]*"' "$json" | head -1 | grep -o '[0-9]*"$' | tr -d '"')
router_port=$(grep -o '"proxy": "[^"]*"' "$json" | head -1 | grep -o '[0-9]*"$' | tr -d '"')
instance_pid=$(pgrep -f "metako-1.yaml" | head -1)
ha_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/haproxy.cfg" <<CFG
global
  maxconn 1000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen pg
  bind 127.0.0.1:$ha_port
  server pg1 127.0.0.1:$pg_port
CFG
haproxy -f "$dir/haproxy.cfg" -db > "$dir/haproxy.log" 2>&1 &
haproxy_pid=$!

bouncer_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password=$(cut -d: -f5 "$dir/pgpass" | head -1)
mkdir -p "$dir/pgbouncer"
printf '"postgres" "%s"\n' "$password" > "$dir/pgbouncer/userlist.txt"
cat > "$dir/pgbouncer/pgbouncer.ini" <<CFG
[databases]
postgres = host=127.0.0.1 port=$pg_port dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/pgbouncer/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = $dir/pgbouncer/pgbouncer.log
CFG
chown -R postgres "$dir/pgbouncer"
runuser -u postgres -- pgbouncer "$dir/pgbouncer/pgbouncer.ini" > /dev/null 2>&1 &
sleep 1
bouncer_pid=$(pgrep -u postgres -f "^pgbouncer $dir/pgbouncer/pgbouncer.ini" | head -1)

export PGPASSFILE="$dir/pgpass" PGUSER=postgres PGDATABASE=postgres PGHOST=127.0.0.1
pgbench -i -q -s 10 -p "$pg_port" >/dev/null 2>&1

cpu_ticks() { [ -z "$1" ] && { echo 0; return; }; awk '{print $14 + $15}' "/proc/$1/stat"; }
# the CPU of the proxy's own event-loop threads (named metako-proxy-*) inside the instance JVM
proxy_ticks() {
  local pid=$1 total=0 t
  for t in /proc/"$pid"/task/*; do
    if grep -q '^metako-proxy' "$t/comm" 2>/dev/null; then
      total=$(( total + $(awk '{print $14 + $15}' "$t/stat") ))
    fi
  done
  echo "$total"
}
# voluntary + involuntary context switches of the proxy's threads (all threads of a process
# when the name pattern is empty): wake-ups, which cost most on this paravirtualised guest
ctx_switches() {
  local pid=$1 pattern=$2 total=0 t
  [ -z "$pid" ] && { echo 0; return; }
  for t in /proc/"$pid"/task/*; do
    if [ -z "$pattern" ] || grep -q "^$pattern" "$t/comm" 2>/dev/null; then
      total=$(( total + $(awk '/ctxt_switches/ {n += $2} END {print n}' "$t/status") ))
    fi
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
# the machine's idle and iowait ticks, then all ticks, from /proc/stat: a thread blocked in io_uring_enter
# counts as iowait, so both are CPU that nobody used
machine_ticks() { awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }

run() { # label port pid mode clients extra [user]
  local label=$1 port=$2 pid=$3 mode=$4 clients=$5 extra=$6 user=${7:-postgres}
  local before after pbefore pafter out tps lat tx cbefore cafter pattern="" mbefore mafter
  [ "$label" != "${label#metako}" ] && pattern="metako-proxy"
  before=$(cpu_ticks "$pid"); pbefore=0; cbefore=$(ctx_switches "$pid" "$pattern"); mbefore=$(machine_ticks)
  [ "$label" != "${label#metako}" ] && pbefore=$(proxy_ticks "$pid")
  out=$(pgbench -U "$user" -p "$port" -M "$mode" -c "$clients" -j "$(( clients > 1 ? 2 : 1 ))" -T "$secs" $extra -n 2>&1)
  after=$(cpu_ticks "$pid"); pafter=0; cafter=$(ctx_switches "$pid" "$pattern"); mafter=$(machine_ticks)
  [ "$label" != "${label#metako}" ] && pafter=$(proxy_ticks "$pid")
  tps=$(echo "$out" | grep -o 'tps = [0-9.]*' | head -1 | cut -d' ' -f3)
  lat=$(echo "$out" | grep -o 'latency average = [0-9.]* ms' | cut -d' ' -f4)
  tx=$(echo "$out" | grep -o 'number of transactions actually processed: [0-9]*' | grep -o '[0-9]*$')
  [ -z "$tps" ] && echo "$label ($mode) failed: $(echo "$out" | grep -v '^progress' | tail -3)" >&2
  local cpu="-" switches="-"
  if [ -n "$pid" ] && [ "${tx:-0}" -gt 0 ]; then
    switches=$(python3 -c "print(f'{($cafter-$cbefore)/$tx:.2f}')")
    cpu=$(python3 -c "print(f'{($after-$before)/$hz*1000/($tx/1000):.1f}')")
    if [ "$label" != "${label#metako}" ]; then
      cpu="$(python3 -c "print(f'{($pafter-$pbefore)/$hz*1000/($tx/1000):.1f}')") ($cpu jvm)"
    fi
  fi
  local idle
  idle=$(python3 -c "b, a = '$mbefore'.split(), '$mafter'.split(); print(f'{100 * (int(a[0]) - int(b[0])) / max(1, int(a[1]) - int(b[1])):.0f}')")
  echo "$label|$tps|$lat|$cpu|$switches|$idle"
}

# one 8-client run of a goal or pair row: prints its line (LABEL) and appends "KEY|tps|proxy cpu|idle %" to $results
row() { # label key name port pid user mode extra
  local r tps lat cpu switches idle
  r=$(run "$3" "$4" "$5" "$7" 8 "$8" "$6")
  IFS='|' read -r _ tps lat cpu switches idle <<< "$r"
  printf '%-44s %10s %12s %24s %14s %7s\n' "$1" "$tps" "$lat" "$cpu" "$switches" "$idle"
  echo "$2|$tps|${cpu%% *}|$idle" >> "$results"
}

# pgbench -S's own script with the router's hint: the same reads, sent to the primary as PgBouncer's are
# (spreading reads over two replicas costs PostgreSQL itself more on this 2-core host, see performance.md)
printf '\\set aid random(1, 100000 * :scale)\n/* metako: primary */ SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n' \
  > "$dir/select-primary.sql"

if [ "$latency_rounds" -gt 0 ]; then
  echo "warming up (JIT, kept backend connections) ..."
  for mode in simple prepared; do
    pgbench -U app -p "$router_port" -M "$mode" -c 8 -j 2 -T 5 -f "$dir/select-primary.sql" -s 10 -n > /dev/null 2>&1 || true
    pgbench -p "$rw_port" -M "$mode" -c 8 -j 2 -T 5 -S -n > /dev/null 2>&1 || true
    pgbench -p "$bouncer_port" -M "$mode" -c 8 -j 2 -T 5 -S -n > /dev/null 2>&1 || true
  done
  results="$dir/latency.txt"; : > "$results"
  printf '%-44s %12s\n' "run (1 client, select-only)" "latency ms"
  for round in $(seq 1 "$latency_rounds"); do
    for mode in simple prepared; do
      for target in "metako router to primary:$router_port:app:-f $dir/select-primary.sql -s 10" "metako rw_port:$rw_port::-S" \
                    "pgbouncer:$bouncer_port::-S" "haproxy:$ha_port::-S" "direct:$pg_port::-S"; do
        IFS=: read -r tname tport tuser textra <<< "$target"
        lat=$(pgbench -U "${tuser:-postgres}" -p "$tport" -M "$mode" -c 1 -j 1 -T "$secs" $textra -n 2>&1 \
          | grep -o 'latency average = [0-9.]* ms' | cut -d' ' -f4)
        printf '%-44s %12s\n' "round $round $mode $tname" "${lat:--}"
        [ -n "$lat" ] && echo "$mode|$tname|$lat" >> "$results"
      done
    done
  done
  python3 - "$results" <<'PY'
import sys, statistics
rows = [l.strip().split('|') for l in open(sys.argv[1]) if l.strip()]
print()
for mode in ('simple', 'prepared'):
    med = {}
    for name in ('metako router to primary', 'metako rw_port', 'pgbouncer', 'haproxy', 'direct'):
        xs = [float(r[2]) for r in rows if r[0] == mode and r[1] == name]
        if xs:
            med[name] = statistics.median(xs) * 1000
    line = ', '.join(f"{k} {v:.0f} us" for k, v in med.items())
    print(f"{mode:9s} median latency: {line}")
    if 'pgbouncer' in med and 'metako router to primary' in med:
        print(f"{'':9s} router to primary minus PgBouncer: {med['metako router to primary'] - med['pgbouncer']:+.0f} us; "
              f"rw_port minus HAProxy: {med.get('metako rw_port', 0) - med.get('haproxy', 0):+.0f} us")
PY
  exit 0
fi

if [ "$pairs" -gt 0 ]; then
  echo "warming up (JIT, kept backend connections) ..."
  for mode in simple prepared; do
    for wport in "$router_port:app" "$bouncer_port:postgres"; do
      pgbench -U "${wport#*:}" -p "${wport%%:*}" -M "$mode" -c 8 -j 2 -T 5 -f "$dir/select-primary.sql" -s 10 -n > /dev/null 2>&1 || true
    done
  done
  printf '%-44s %10s %12s %24s %14s %7s\n' "run" "tps" "latency ms" "proxy cpu ms/1k tx" "switches/tx" "idle %"
  results="$dir/pairs.txt"; : > "$results"
  router="metako router to primary:$router_port:$instance_pid:app"
  bouncer="pgbouncer:$bouncer_port:$bouncer_pid:postgres"
  for pair in $(seq 1 "$pairs"); do
    for mode in simple prepared; do
      order=("$router" "$bouncer")
      [ $(( pair % 2 )) -eq 0 ] && order=("$bouncer" "$router")
      for target in "${order[@]}"; do
        IFS=: read -r tname tport tpid tuser <<< "$target"
        row "pair $pair $mode $tname" "$pair|$mode|$tname" "$tname" "$tport" "$tpid" "$tuser" "$mode" \
          "-f $dir/select-primary.sql -s 10"
      done
    done
  done
  python3 - "$results" <<'PY'
import math, statistics, sys
rows = [l.strip().split('|') for l in open(sys.argv[1]) if l.strip()]
# two-sided 95% quantiles of Student's t by degrees of freedom (1.96 beyond the table)
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23, 11: 2.20,
       12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 16: 2.12, 17: 2.11, 18: 2.10, 19: 2.09, 20: 2.09, 25: 2.06, 30: 2.04}
def t95(df):
    return T95.get(df) or next((T95[k] for k in sorted(T95) if k >= df), 1.96)
def interval(logs):
    m = statistics.mean(logs)
    if len(logs) < 2:
        return math.exp(m), float('nan'), float('nan')
    h = t95(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(m), math.exp(m - h), math.exp(m + h)
print()
for mode in ('simple', 'prepared'):
    by_pair = {}
    for pair, m, name, tps, cpu, idle in rows:
        if m == mode and tps not in ('', '-'):
            by_pair.setdefault(pair, {})[name] = (float(tps), float(cpu) if cpu not in ('', '-') else None, float(idle))
    both = [v for v in by_pair.values() if len(v) == 2]
    if not both:
        print(f"{mode:9s} no complete pair (a run failed; see the rows above)")
        continue
    ours, theirs = 'metako router to primary', 'pgbouncer'
    tps = interval([math.log(v[ours][0] / v[theirs][0]) for v in both])
    cpus = [math.log(v[ours][1] / v[theirs][1]) for v in both if v[ours][1] and v[theirs][1]]
    cpu = interval(cpus) if cpus else (float('nan'),) * 3
    idle = [statistics.mean(v[name][2] for v in both) for name in (ours, theirs)]
    print(f"{mode:9s} router to primary vs PgBouncer over {len(both)} pairs: tps {tps[0]:.3f}x "
          f"(95% CI {tps[1]:.3f}-{tps[2]:.3f}), CPU per tx {cpu[0]:.3f}x theirs (95% CI {cpu[1]:.3f}-{cpu[2]:.3f}); "
          f"CPU idle {idle[0]:.1f}% behind the router, {idle[1]:.1f}% behind PgBouncer")
PY
  exit 0
fi

if [ "$goal_rounds" -gt 0 ]; then
  printf '%-44s %10s %12s %24s %14s %7s\n' "run" "tps" "latency ms" "proxy cpu ms/1k tx" "switches/tx" "idle %"
  results="$dir/goal.txt"; : > "$results"
  # the JIT, and the server connections PgBouncer and the router keep between sessions, each having run the
  # query (so that round 1 already compares warm backends on both sides; rw_port and HAProxy connect new ones
  # every run)
  echo "warming up (JIT, kept backend connections) ..."
  for mode in simple prepared; do
    for target in "$router_port:app:-S" "$router_port:app:-f $dir/select-primary.sql -s 10" "$rw_port:postgres:-S" \
                  "$bouncer_port:postgres:-S"; do
      IFS=: read -r wport wuser wscript <<< "$target"
      pgbench -U "$wuser" -p "$wport" -M "$mode" -c 8 -j 2 -T 5 $wscript -n > /dev/null 2>&1 || true
    done
  done
  for round in $(seq 1 "$goal_rounds"); do
    for mode in simple prepared; do
      for target in "metako router:$router_port:$instance_pid:app:-S" "metako router to primary:$router_port:$instance_pid:app:-f $dir/select-primary.sql -s 10" \
                    "pgbouncer:$bouncer_port:$bouncer_pid::-S" "metako rw_port:$rw_port:$instance_pid::-S" "haproxy:$ha_port:$haproxy_pid::-S"; do
        IFS=: read -r tname tport tpid tuser textra <<< "$target"
        row "round $round $mode $tname" "$mode|$tname" "$tname" "$tport" "$tpid" "${tuser:-postgres}" "$mode" "$textra"
      done
    done
  done
  python3 - "$results" <<'PY'
import sys, statistics
rows = [l.strip().split('|') for l in open(sys.argv[1]) if l.strip()]
def series(mode, name, col):
    return [float(r[col]) for r in rows if r[0] == mode and r[1] == name and r[col] not in ('', '-')]
print()
for mode in ('simple', 'prepared'):
    for ours, theirs in (('metako router', 'pgbouncer'), ('metako router to primary', 'pgbouncer'),
                         ('metako rw_port', 'haproxy')):
        tps = [a / b for a, b in zip(series(mode, ours, 2), series(mode, theirs, 2))]
        cpu = [a / b for a, b in zip(series(mode, ours, 3), series(mode, theirs, 3))]
        if not tps or not cpu:
            print(f"{mode:9s} {ours:24s} vs {theirs:10s}: no figures (a run failed; see its row above)")
            continue
        print(f"{mode:9s} {ours:24s} vs {theirs:10s}: tps median {statistics.median(tps):.2f}x "
              f"(rounds {', '.join(f'{x:.2f}' for x in tps)}), CPU per tx median {statistics.median(cpu):.2f}x theirs")
PY
  exit 0
fi

printf '%-36s %10s %12s %8s %24s\n' "run" "tps" "latency ms" "ratio" "proxy cpu ms/1k tx"
for workload in "select-only simple:-S:simple" "select-only prepared:-S:prepared" "tpc-b simple::simple"; do
  IFS=: read -r wname flag mode <<< "$workload"
  for clients in 1 8; do
    direct=$(run "direct" "$pg_port" "" "$mode" "$clients" "$flag")
    direct_tps=$(echo "$direct" | cut -d'|' -f2)
    for target in "direct:$pg_port::" "metako router:$router_port:$instance_pid:app" "pgbouncer:$bouncer_port:$bouncer_pid:" \
                  "metako rw_port:$rw_port:$instance_pid:" "haproxy:$ha_port:$haproxy_pid:"; do
      IFS=: read -r tname tport tpid tuser <<< "$target"
      if [ "$tname" = direct ]; then r="$direct"; else r=$(run "$tname" "$tport" "$tpid" "$mode" "$clients" "$flag" "${tuser:-postgres}"); fi
      IFS='|' read -r _ tps lat cpu _ <<< "$r"
      ratio=$(python3 -c "print(f'{float(\"$tps\")/float(\"$direct_tps\"):.2f}x')")
      printf '%-36s %10s %12s %8s %24s\n' "$wname c=$clients $tname" "$tps" "$lat" "$ratio" "$cpu"
    done
  done
done

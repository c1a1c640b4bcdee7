#!/usr/bin/env bash
# Failover benchmark: N kill -9 drills of the primary on a real local cluster under a real
# 3-instance quorum, with the default health settings and with a fast profile. Prints the median
# and worst detection time, promotion time, kill-to-first-successful-write, kill to the old primary
# rejoined as a replica, and kill to all three nodes healthy. Asserts nothing.
#   scripts/failover-bench.sh [DRILLS]        (default 5 per profile)
#   METAKO_BENCH_SET=250ms scripts/failover-bench.sh 5   (each profile seeded, then changed live with config set)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
drills="${1:-5}"
cd "$root"
report="metako-server/target/failsafe-reports/io.metako.server.it.FailoverBench-output.txt"
for interval in ${METAKO_BENCH_INTERVALS:-1s 250ms}; do
  echo "== health_check.interval=$interval (timeout=$interval, failure_threshold=3), $drills drills =="
  mvn -B -q -pl metako-server -am verify -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false \
      -Dit.test=FailoverBench -Dfailsafe.failIfNoSpecifiedTests=false \
      -Dbench.drills="$drills" -Dbench.interval="$interval" -Dbench.set="${METAKO_BENCH_SET:-}" >/dev/null
  grep '^\[bench\]' "$report"
done

#!/usr/bin/env bash
# Kill soak (issue 13): one real peer takes a stream of acknowledged writes (tag edits over its
# HTTP API, four writers) and is killed with SIGKILL while they run, KILLS times (default 100),
# restarted each time; at the end every write that was answered 200 must be in its store.
# Prints: kills, acknowledged writes, lost writes (must be 0), unanswered writes, wall time.
#
#   scripts/kill-soak.sh          # 100 kills
#   scripts/kill-soak.sh 20       # 20 kills
#
# CI runs the same test with 3 kills (`cargo test -p netsim-tests --test durability`).
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-100}"
log="${CARGO_TARGET_DIR:-target}/kill-soak.log"
mkdir -p "$(dirname "$log")"
start=$(date +%s)
set +e
UYUNI_KILL_SOAK_KILLS="$KILLS" cargo test -p netsim-tests --test durability -- \
    --nocapture --exact kill_9_during_a_stream_of_acknowledged_writes_loses_none >"$log" 2>&1
status=$?
set -e
grep -E "kill -9 soak|^kill [0-9]+:|peer started|test result|panicked" "$log" || true
echo "kill-soak: $KILLS kills, exit $status, $(( $(date +%s) - start )) s including the build (log: $log)"
exit "$status"

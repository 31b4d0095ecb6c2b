#!/usr/bin/env bash
# Partition schedules with a checker (issue 17): N seeded fault schedules (default 100) from
# SEED on (default 1), each against a fresh five-peer cluster (zones za: 3 peers, zb: 2) under
# writes: partitions between the zones and of single peers inside them (the link emulator),
# kill -9 and restart, latency 20-200 ms with 0-10 % loss; STEPS steps of 2-6 s each (default
# 3, env STEPS). Prints one line per schedule — its seed and verdict (PASS, or FAIL with what
# the checker found) — and a summary; rerun a failure with its seed:
#
#   scripts/partition-schedules.sh            # 100 schedules, seeds 1..100
#   scripts/partition-schedules.sh 10 500     # seeds 500..509
#   scripts/partition-schedules.sh 1 42       # reproduce seed 42
#
# CI runs 2 (`cargo test -p netsim-tests --test partition_schedules`).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100}"
SEED="${2:-1}"
log="${CARGO_TARGET_DIR:-target}/partition-schedules.log"
mkdir -p "$(dirname "$log")"
start=$(date +%s)
set +e
PARTITION_SCHEDULES="$N" PARTITION_SEED="$SEED" PARTITION_STEPS="${STEPS:-3}" \
    cargo test -p netsim-tests --test partition_schedules -- --nocapture 2>&1 | tee "$log" |
    grep --line-buffered -E "^schedule seed=|^partition schedules:|panicked|timed out"
status=${PIPESTATUS[0]}
set -e
echo "partition-schedules: $N schedules from seed $SEED, exit $status, $(( $(date +%s) - start )) s (log: $log)"
exit "$status"

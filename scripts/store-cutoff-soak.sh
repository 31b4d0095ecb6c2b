#!/usr/bin/env bash
# Store cut-off soak (issue 17): the `store_cutoff` netsim test with a long cut. Zones hq (2
# peers) and store (3 peers, `load.auto_accept` on) are cut apart for SECONDS (default 3600:
# the hour); every second of it a store system registers and is accepted by the zone's rule,
# an hq system registers and is accepted by an operator, both sides tag the same systems and
# agents heartbeat their store peers; a third of the way in a store peer is killed (its
# systems re-home inside the store), two thirds in it restarts. After the heal: every
# acknowledged write on every peer, identical replicas, and no assignment change in the 10 s
# watched. Prints the test's figures line.
#
# Compressed timings (the harness's test settings, not production's): heartbeats every
# 200 ms, suspicion 2 s, a down node declared faulty after 2 s (production: 1 s, 10 s,
# 5 min), agents heartbeating every 1 s (production 60 s). One hour of cut at these settings
# carries the peer heartbeats of five hours and the agent heartbeats of sixty.
#
#   scripts/store-cutoff-soak.sh          # the hour
#   scripts/store-cutoff-soak.sh 300      # five minutes
#
# CI runs the same test with a 20 s cut (`cargo test -p netsim-tests --test store_cutoff`).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_CUT="${1:-3600}"
log="${CARGO_TARGET_DIR:-target}/store-cutoff-soak.log"
mkdir -p "$(dirname "$log")"
start=$(date +%s)
set +e
STORE_CUTOFF_SECS="$SECONDS_CUT" cargo test -p netsim-tests --test store_cutoff -- \
    --nocapture >"$log" 2>&1
status=$?
set -e
grep -E "store cut-off:|test result|panicked|timed out" "$log" || true
echo "store-cutoff-soak: cut ${SECONDS_CUT} s, exit $status, $(( $(date +%s) - start )) s including the build (log: $log)"
exit "$status"

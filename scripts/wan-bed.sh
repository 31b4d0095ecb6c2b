#!/usr/bin/env bash
# The WAN test bed (issue 17): PEERS peers (default 500) in ZONES zones (default 250) on this
# machine, many peers per process (netsim-tests/src/wanbed.rs), every connection through the
# link emulator: latency 20-200 ms seeded per zone, 1 % loss, 256 KiB/s per direction of a
# zone pair. Prints the time for membership to agree after start, the idle cost (RSS and CPU
# per peer, membership messages per peer per second), a write's propagation to every peer
# (p50/p99), and the time until a dropped zone is seen suspect and down by every other peer,
# then alive again after the heal. Extra options go to the bench (`--seed`, `--loss`,
# `--bandwidth`, `--wan-suspicion-ms`, `--writes`, `--idle-secs`, `--workers`, `--assert`;
# netsim-tests/examples/bench_wan.rs). The build is the dev profile with the workspace's own
# crates at opt-level 2 (OPT_LEVEL; the dependencies keep the dev profile's opt-level 1 and are
# not rebuilt): at opt-level 0 an idle peer costs ~0.4 % of a core, too much for 500 on two
# cores. RELEASE=1 builds with --release instead.
#
#   scripts/wan-bed.sh               # 500 peers, 250 zones (docs/PERFORMANCE.md)
#   scripts/wan-bed.sh 40 20         # the size CI runs (tests/wan_bed.rs)
#
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="${1:-500}"
ZONES="${2:-250}"
shift $(( $# < 2 ? $# : 2 ))
# Every peer holds listeners, store files and relayed connections (four descriptors each).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log="${CARGO_TARGET_DIR:-target}/wan-bed.log"
mkdir -p "$(dirname "$log")"
start=$(date +%s)
[ -n "${RELEASE:-}" ] || export CARGO_PROFILE_DEV_OPT_LEVEL="${OPT_LEVEL:-2}"
set +e
cargo run ${RELEASE:+--release} -q -p netsim-tests --example bench_wan -- \
    --peers "$PEERS" --zones "$ZONES" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "wan-bed: $PEERS peers in $ZONES zones, exit $status, $(( $(date +%s) - start )) s (log: $log)"
exit "$status"

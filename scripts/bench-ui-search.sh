#!/usr/bin/env bash
# Benchmark (not a test, not in scripts/test.sh): the Cluster UI's search over SYSTEMS systems
# (default 1M) in Debian's Chromium, against the same query's REST round trip from the page
# (gateway/ui/e2e/bench-search.mjs; figures in docs/PERFORMANCE.md).
#
#   scripts/bench-ui-search.sh [SYSTEMS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
systems="${1:-1000000}"
rounds="${2:-200}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
# The fixture and the binaries it starts, in release (the harness builds uyuni-cluster and
# uyuni-standin in release for a release example).
cargo build --release --locked -q -p peer --bin uyuni-cluster
cargo build --release --locked -q -p netsim-tests --bin uyuni-standin --example ui_search_fixture
cd gateway/ui
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
UYUNI_CLUSTER_BIN="$target/release/uyuni-cluster" \
UYUNI_STANDIN_BIN="$target/release/uyuni-standin" \
UI_FIXTURE_BIN="$target/release/examples/ui_search_fixture" \
    node e2e/bench-search.mjs "$systems" "$rounds"

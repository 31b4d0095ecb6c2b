#!/usr/bin/env bash
# The project's test command: formatting, lints, then every test of the workspace
# (unit, property, and the multi-node netsim scenarios that run real uyuni-cluster processes).
set -euo pipefail
cd "$(dirname "$0")/.."
# Wall time of each phase, printed as it ends (docs/PERFORMANCE.md keeps the figures).
phase_start=$(date +%s)
phase() {
    local now
    now=$(date +%s)
    echo "== phase: $1 took $((now - phase_start)) s"
    phase_start=$now
}
cargo fmt --all -- --check
phase fmt
cargo clippy --workspace --all-targets --locked -- -D warnings
phase clippy
# The systemd units' sandboxes (exposure score <= 3.0; skipped without systemd-analyze).
scripts/check-units.sh
phase units
# The scripts' own unit tests (scripts/tests: the API catalogue extractor on synthetic handlers).
python3 -m unittest discover -s scripts/tests -q
phase scripts
# One build of every test binary and of every binary the netsim scenarios start
# (uyuni-cluster, uyuni-standin, uyuni-cluster-agent: each package has an integration test, so
# `cargo test` builds its binaries), with the one feature set of the test run. The harness
# asks cargo for this same build, which is then fresh: nothing is rebuilt while tests run.
cargo test --workspace --locked --no-run
phase build
# The client agent as shipped: a static musl binary under 4 MiB that runs.
scripts/build-agent.sh
agent_bin=target/x86_64-unknown-linux-musl/agent/uyuni-cluster-agent
size=$(stat -c %s "$agent_bin")
if [ "$size" -ge $((4 * 1024 * 1024)) ]; then
    echo "agent binary is $size bytes: over the 4 MiB budget" >&2
    exit 1
fi
if ldd "$agent_bin" 2>&1 | grep -q '=>'; then
    echo "agent binary is dynamically linked" >&2
    exit 1
fi
"$agent_bin" --help >/dev/null
phase agent
# The RPMs, container images, Helm chart, /metrics (promtool) and the Grafana dashboard, from the
# binaries built above (scripts/check-packages.sh; docs/TESTING.md).
scripts/check-packages.sh
phase packaging
# The Cluster UI: its bundle is fresh, its unit tests, and the browser test in Chromium.
scripts/test-ui.sh
phase ui
# The netsim scenarios include the short versions of issue 17's long runs: the WAN test bed
# at 40 peers / 20 zones (tests/wan_bed.rs; full size: scripts/wan-bed.sh 500 250).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
phase tests
# One closing line over every test binary (unit, property, doc and netsim scenarios).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"

#!/usr/bin/env bash
# Find flaky multi-node tests: run the netsim scenarios N times in a row (default 5), every
# second run with the machine loaded by a concurrent cargo build, and report each test's
# failures. Exit status 1 when any test failed in any run.
#
#   scripts/flakes.sh [N] [-- <test name filter and libtest options>]
#
# The load is a real release build of a few workspace crates into a throwaway target dir,
# started again as soon as it ends (the kind of load CI sees from a build next to it).
# Per-run logs and the report go to $FLAKES_DIR (default target/flakes).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift || true
[ "${1:-}" = "--" ] && shift
out=${FLAKES_DIR:-target/flakes}
mkdir -p "$out"
rm -f "$out"/run-*.log "$out/report.txt"

# Build once, exactly as the test command does (the workspace's feature set: `-p netsim-tests`
# would resolve other features and rebuild), and run the netsim test executables it made.
mapfile -t bins < <(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["kind"] == ["test"] and "netsim-tests" in m["package_id"]):
        print(m["executable"])
')
if [ "${#bins[@]}" -eq 0 ]; then
    echo "no netsim test executables were built" >&2
    exit 2
fi

load_pid=""
load_dir=""
start_load() {
    local dir
    dir=$(mktemp -d)
    (
        while true; do
            cargo build -q --release --locked --target-dir "$dir" -p crdt-store -p uyuni-api \
                >/dev/null 2>&1 || true
            rm -rf "$dir"/release 2>/dev/null || true
        done
    ) 2>/dev/null &
    load_pid=$!
    load_dir=$dir
}
stop_load() {
    if [ -n "$load_pid" ]; then
        kill "$load_pid" 2>/dev/null || true
        pkill -P "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
        rm -rf "$load_dir"
        load_pid=""
    fi
}
trap stop_load EXIT

for i in $(seq 1 "$runs"); do
    loaded=no
    if [ $((i % 2)) -eq 0 ]; then
        loaded=yes
        start_load
    fi
    start=$(date +%s)
    set +e
    rc=0
    : >"$out/run-$i.log"
    for b in "${bins[@]}"; do
        (cd netsim-tests && "$b" "$@") >>"$out/run-$i.log" 2>&1 || rc=$?
    done
    set -e
    stop_load
    secs=$(($(date +%s) - start))
    passed=$(awk '/^test result:/ { p += $4 } END { print p + 0 }' "$out/run-$i.log")
    failed=$(grep -c ' \.\.\. FAILED$' "$out/run-$i.log" || true)
    echo "run $i (loaded: $loaded): exit $rc, $passed passed, $failed failed, ${secs}s" |
        tee -a "$out/report.txt"
done

echo "--- failures per test over $runs runs ---" | tee -a "$out/report.txt"
if grep -h ' \.\.\. FAILED$' "$out"/run-*.log >/dev/null 2>&1; then
    grep -h ' \.\.\. FAILED$' "$out"/run-*.log | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' |
        sort | uniq -c | sort -rn | tee -a "$out/report.txt"
    exit 1
fi
echo "none" | tee -a "$out/report.txt"

#!/usr/bin/env bash
# Fuzz every parser that takes bytes from outside (docs/FUZZING.md): builds the cargo-fuzz
# targets of fuzz/ (nightly, address sanitizer, its own target dir fuzz/target), then runs each
# for SECONDS (default 600), one after another, one job each, and prints per target: seconds,
# execs, exec/s, corpus size, findings. Corpora grow in fuzz/corpus/TARGET (seeded from
# fuzz/seeds/TARGET); findings land in fuzz/artifacts/TARGET; logs in fuzz/logs/TARGET.log.
# Not part of scripts/test.sh (too slow); the fixed findings are regression tests there.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# FUZZ_NO_BUILD=1 runs the targets as last built.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
shift || true
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz missing: cargo +nightly install cargo-fuzz --locked" >&2
    exit 1
fi
export CARGO_TARGET_DIR="$PWD/target"
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    cargo +nightly fuzz build -O
fi
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
bin_dir="$CARGO_TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
status=0
printf '%-14s %8s %12s %9s %8s %9s\n' target seconds execs exec/s corpus findings
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t" "logs/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    start=$(date +%s)
    # -jobs=1: one fuzzing process (its output goes to logs/$t/fuzz-0.log), restarted by
    # libFuzzer never; -max_total_time bounds it.
    rc=0
    (cd "logs/$t" && "$bin_dir/$t" "../../corpus/$t" "${seeds[@]/#/../../}" \
        -max_total_time="$seconds" -jobs=1 -print_final_stats=1 \
        -artifact_prefix="../../artifacts/$t/" -rss_limit_mb=4096 >/dev/null 2>&1) || rc=$?
    took=$(($(date +%s) - start))
    log="logs/$t/fuzz-0.log"
    cp "$log" "logs/$t.log" 2>/dev/null || true
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(find "corpus/$t" -type f | wc -l)
    findings=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    printf '%-14s %8s %12s %9s %8s %9s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" "$corpus" "$findings"
    if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
        status=1
    fi
done
exit "$status"

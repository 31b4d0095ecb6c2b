#!/usr/bin/env bash
# The Cluster UI's phase of scripts/test.sh (docs/UI.md): the committed bundle
# (gateway/ui/dist, compiled into the binary) is what the sources build, the components'
# unit tests (vitest), and the end-to-end test in Debian's Chromium against the sandbox of the
# debug binaries that `cargo test --workspace --no-run` built.
set -euo pipefail
cd "$(dirname "$0")/../gateway/ui"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build >/dev/null
if ! git diff --quiet -- dist || [ -n "$(git ls-files --others --exclude-standard -- dist)" ]; then
    git status --short -- dist >&2
    echo "gateway/ui/dist is not what the sources build: run 'npm run build' in gateway/ui and commit it" >&2
    exit 1
fi
# The first page's JavaScript stays within its budget (docs/PERFORMANCE.md).
gz=$(gzip -9c dist/assets/app.js | wc -c)
echo "ui: first page JavaScript $gz bytes gzipped (budget 153600)"
[ "$gz" -le 153600 ] || { echo "over the 150 KB budget" >&2; exit 1; }
npx vitest run
target="${CARGO_TARGET_DIR:-$(cd ../.. && pwd)/target}"
UYUNI_CLUSTER_BIN="$target/debug/uyuni-cluster" node e2e/run.mjs

#!/usr/bin/env bash
# Build the static client agent `uyuni-cluster-agent` for x86_64-unknown-linux-musl with the
# size-optimised `agent` profile (Cargo.toml), installing what the build needs first:
# the rustup target and Debian's musl-tools (ring's C parts need x86_64-linux-musl-gcc).
# Prints the binary's path and size.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl

if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi
if ! command -v x86_64-linux-musl-gcc >/dev/null 2>&1; then
    # We run as root (CI and the developer machines); elsewhere run this part with sudo.
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools
fi

cargo build --locked -p agent --bin uyuni-cluster-agent --profile agent --target "$target"

bin="target/$target/agent/uyuni-cluster-agent"
size=$(stat -c %s "$bin")
echo "binary: $bin"
echo "size: $size bytes ($((size / 1024)) KiB)"

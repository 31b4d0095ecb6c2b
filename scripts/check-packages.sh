#!/usr/bin/env bash
# The packaging phase of scripts/test.sh (docs/TESTING.md): build the RPMs and images from the
# binaries the earlier phases built (scripts/package.sh --profile debug --no-build: rpmlint
# runs inside), then inspect them; check /metrics of a running peer with promtool and the
# Grafana dashboard's queries against it; render and validate the Helm chart. Prints one line
# per check and a closing "packaging: N passed, N failed"; exits 1 on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
peer_bin=$target_dir/debug/uyuni-cluster
work=$(mktemp -d)
peer_pid=
cleanup() {
    if [ -n "$peer_pid" ]; then kill "$peer_pid" 2>/dev/null || true; fi
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
ok() { echo "packaging: ok: $1"; passed=$((passed + 1)); }
bad() { echo "packaging: FAIL: $1" >&2; failed=$((failed + 1)); }
expect() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

# --- packages and images (rpmlint and gen-config --check run inside package.sh) ---
start=$(date +%s)
KEEP_STORE=$work/store scripts/package.sh --profile debug --no-build --out "$work/dist"
echo "packaging: package.sh took $(($(date +%s) - start)) s"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
rpm_peer=$work/dist/rpm/uyuni-cluster-$version-1.x86_64.rpm
rpm_agent=$work/dist/rpm/uyuni-cluster-agent-$version-1.x86_64.rpm

# --- RPMs: file lists with modes and owners, scriptlets, dependencies ---
for p in uyuni-cluster uyuni-cluster-agent; do
    rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' \
        "$work/dist/rpm/$p-$version-1.x86_64.rpm" > "$work/$p.files"
    expect "$p: files, modes and owners as packaging/rpm/$p.files" \
        diff -u "packaging/rpm/$p.files" "$work/$p.files"
done
rpm -qlp "$rpm_peer" > "$work/peer.list"
expect "uyuni-cluster: binary, units, config, SQL, sysusers, tmpfiles listed by rpm -qlp" \
    bash -c "grep -qx /usr/bin/uyuni-cluster '$work/peer.list' &&
        grep -qx /usr/lib/systemd/system/uyuni-cluster.service '$work/peer.list' &&
        grep -qx /usr/lib/systemd/system/uyuni-cluster-gateway.service '$work/peer.list' &&
        grep -qx /etc/uyuni-cluster/peer.toml '$work/peer.list' &&
        grep -qx /usr/share/uyuni-cluster/sql/uyuni-cluster-install.sql '$work/peer.list' &&
        grep -qx /usr/lib/sysusers.d/uyuni-cluster.conf '$work/peer.list' &&
        grep -qx /usr/lib/tmpfiles.d/uyuni-cluster.conf '$work/peer.list'"
expect "uyuni-cluster: configuration files are %config(noreplace)" \
    bash -c "[ \"\$(rpm -qp --configfiles '$rpm_peer' | sort | tr '\n' ' ')\" = '/etc/uyuni-cluster/gateway.toml /etc/uyuni-cluster/peer.toml ' ]"
rpm -qp --scripts "$rpm_peer" > "$work/peer.scripts"
expect "uyuni-cluster: %pre makes the user with systemd-sysusers" \
    grep -q 'systemd-sysusers --replace=/usr/lib/sysusers.d/uyuni-cluster.conf' "$work/peer.scripts"
expect "uyuni-cluster: %post makes the directories with systemd-tmpfiles" \
    grep -q 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/uyuni-cluster.conf' "$work/peer.scripts"
expect "uyuni-cluster: %preun stops and disables on erase only" \
    bash -c "grep -qF 'if [ \"\$1\" -eq 0 ]' '$work/peer.scripts' &&
        grep -qF 'disable --now uyuni-cluster.service uyuni-cluster-gateway.service' '$work/peer.scripts'"
expect "uyuni-cluster-agent: no library dependencies (static)" \
    bash -c "! rpm -qp --requires '$rpm_agent' | grep -q '\.so'"
expect "uyuni-cluster-agent: %post makes its state directory" \
    bash -c "rpm -qp --scripts '$rpm_agent' | grep -q 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/uyuni-cluster-agent.conf'"

# --- images: configuration (skopeo), binaries run inside (buildah, chroot isolation) ---
for img in uyuni-cluster uyuni-cluster-agent; do
    skopeo inspect --config --raw "docker-archive:$work/dist/image/$img.tar" > "$work/$img.config.json"
done
expect "images: non-root user 65532, entrypoints, volume; health check on the peer's /health only" \
    python3 - "$work/uyuni-cluster.config.json" "$work/uyuni-cluster-agent.config.json" <<'PY'
import json, sys
peer, agent = (json.load(open(p))["config"] for p in sys.argv[1:3])
for c in (peer, agent):
    assert c["User"] == "65532:65532", c["User"]
    assert "/var/lib/uyuni-cluster" in c["Volumes"], c
assert peer["Entrypoint"] == ["/usr/bin/uyuni-cluster"], peer["Entrypoint"]
assert agent["Entrypoint"][0] == "/usr/bin/uyuni-cluster-agent", agent["Entrypoint"]
assert peer["Healthcheck"]["Test"][:3] == ["CMD", "/usr/bin/uyuni-cluster", "health"], peer["Healthcheck"]
assert "Healthcheck" not in agent or not agent["Healthcheck"], agent.get("Healthcheck")
assert set(peer["ExposedPorts"]) == {"4580/tcp", "4581/tcp", "8443/tcp"}, peer["ExposedPorts"]
PY
expect "images: linux/amd64 (skopeo inspect)" \
    bash -c "skopeo inspect 'docker-archive:$work/dist/image/uyuni-cluster.tar' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert (d[\"Os\"], d[\"Architecture\"]) == (\"linux\", \"amd64\"), d'"
ba=(buildah --root "$work/store/root" --runroot "$work/store/run" --storage-driver vfs)
ctr=$("${ba[@]}" from --quiet "localhost/uyuni-cluster:$version")
expect "image uyuni-cluster: the binary runs inside (--version)" \
    bash -c "\"\$@\" run --isolation chroot '$ctr' -- /usr/bin/uyuni-cluster --version | grep -qx 'uyuni-cluster $version'" _ "${ba[@]}"
expect "image uyuni-cluster: runs as non-root (cannot write /, can write its data volume)" \
    bash -c "! \"\$@\" run --isolation chroot '$ctr' -- /usr/bin/uyuni-cluster keygen --out /k 2>/dev/null &&
        \"\$@\" run --isolation chroot '$ctr' -- /usr/bin/uyuni-cluster keygen --out /var/lib/uyuni-cluster/k >/dev/null" _ "${ba[@]}"
"${ba[@]}" rm "$ctr" >/dev/null
ctr=$("${ba[@]}" from --quiet "localhost/uyuni-cluster-agent:$version")
expect "image uyuni-cluster-agent: the binary runs inside (--version)" \
    bash -c "\"\$@\" run --isolation chroot '$ctr' -- /usr/bin/uyuni-cluster-agent --version | grep -qx 'uyuni-cluster-agent $version'" _ "${ba[@]}"
"${ba[@]}" rm "$ctr" >/dev/null
for f in "$work"/dist/rpm/*.rpm "$work"/dist/image/*.tar; do
    echo "packaging: size: $(basename "$f") $(stat -c %s "$f") bytes"
done

# --- /metrics of a running peer (with its embedded gateway) ---
"$peer_bin" keygen --out "$work/cluster.key" >/dev/null
"$peer_bin" peer --name metrics-test --dev-plain-http --data-dir "$work/data" \
    --cluster-key "$work/cluster.key" --http-listen 127.0.0.1:0 \
    --p2p-listen /ip4/127.0.0.1/tcp/0 --gateway-listen 127.0.0.1:0 \
    > "$work/peer.out" 2> "$work/peer.err" &
peer_pid=$!
for _ in $(seq 300); do
    grep -q '"ready":true' "$work/peer.out" 2>/dev/null && break
    sleep 0.1
done
ready=$(grep -m1 '"ready":true' "$work/peer.out")
http=$(printf '%s' "$ready" | python3 -c 'import json,sys; print(json.load(sys.stdin)["http"])')
gw=$(printf '%s' "$ready" | python3 -c 'import json,sys; print(json.load(sys.stdin)["gateway"])')
# One Uyuni call through the gateway (no node holds it: a fault), so its series exist.
curl -s -o /dev/null -H 'Content-Type: text/xml' --data \
    '<?xml version="1.0"?><methodCall><methodName>api.getVersion</methodName><params/></methodCall>' \
    "http://$gw/rpc/api" || true
curl -sf "http://$http/metrics" > "$work/metrics.txt"
curl -sf -H 'Accept: application/openmetrics-text; version=1.0.0' "http://$http/metrics" > "$work/metrics.om"
expect "/metrics: promtool check metrics is clean" \
    bash -c "promtool check metrics < '$work/metrics.txt'"
expect "/metrics: OpenMetrics on request (ends with # EOF)" \
    bash -c "tail -n 1 '$work/metrics.om' | grep -qx '# EOF'"
expect "/metrics: membership, store, content and the gateway's call" \
    bash -c "grep -q '^uyuni_cluster_members{status=\"alive\"} 1$' '$work/metrics.txt' &&
        grep -q '^uyuni_cluster_store_shards ' '$work/metrics.txt' &&
        grep -q '^uyuni_cluster_content_repos ' '$work/metrics.txt' &&
        grep -q '^uyuni_cluster_gateway_requests_total{method=\"api.getVersion\",result=\"fault\"} 1$' '$work/metrics.txt' &&
        grep -q '^uyuni_cluster_gateway_request_duration_seconds_count{method=\"api.getVersion\"} 1$' '$work/metrics.txt'"
expect "/metrics: no names, fingerprints or addresses in labels" \
    bash -c "! grep -v '^#' '$work/metrics.txt' | grep -q 'metrics-test\|127\.0\.0\.1\|12D3Koo'"
expect "grafana: the dashboard is JSON and every metric it queries exists" \
    python3 - packaging/grafana/uyuni-cluster.json "$work/metrics.txt" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
exposed = {l.split("{")[0].split(" ")[0] for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")}
used = set()
for p in dash["panels"]:
    for t in p["targets"]:
        used |= set(re.findall(r"uyuni_cluster_[a-z_]+", t["expr"]))
missing = sorted(u for u in used if u not in exposed)
assert used and not missing, f"queried but not exposed: {missing}"
print(f"grafana: {len(dash['panels'])} panels, {len(used)} metrics, all exposed")
PY
kill "$peer_pid"
wait "$peer_pid" 2>/dev/null || true
peer_pid=

# --- the Helm chart ---
expect "helm: three value sets rendered and validated strictly" python3 scripts/check-chart.py

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

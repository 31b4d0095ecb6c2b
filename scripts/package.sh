#!/usr/bin/env bash
# Build the packages and container images of uyuni-cluster (docs/OPERATIONS.md#packages):
#
#   scripts/package.sh [rpm] [image] [--profile release|debug] [--out DIR] [--no-build]
#
# - rpm:   dist/rpm/uyuni-cluster-VERSION-RELEASE.x86_64.rpm (peer + gateway) and
#          dist/rpm/uyuni-cluster-agent-VERSION-RELEASE.x86_64.rpm (the static agent), with
#          rpmbuild (Debian's or SUSE's rpm) from packaging/rpm/uyuni-cluster.spec; rpmlint'ed
#          with packaging/rpm/uyuni-cluster.rpmlintrc.
# - image: dist/image/uyuni-cluster.tar and dist/image/uyuni-cluster-agent.tar
#          (docker-archive: the Docker image format keeps HEALTHCHECK, the OCI one has no such
#          field), built by buildah without a daemon (its own vfs storage in a temporary
#          directory) FROM scratch, non-root (65532); the peer's health check is
#          `uyuni-cluster health` (GET /health). KEEP_STORE=DIR keeps that storage (tests run
#          the binaries inside with `buildah run --isolation chroot`).
# Neither given: both. The peer binary comes from cargo's `release` profile (`--profile debug`:
# the debug build, stripped: what scripts/test.sh packages to stay quick); the agent is the
# static musl build of scripts/build-agent.sh. --no-build packages the binaries already built
# (scripts/test.sh built both in earlier phases).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

profile=release
out=$root/dist
do_rpm=0
do_image=0
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        rpm) do_rpm=1 ;;
        image) do_image=1 ;;
        --profile) profile=$2; shift ;;
        --out) out=$2; shift ;;
        --no-build) build=0 ;;
        *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ $do_rpm = 0 ] && [ $do_image = 0 ]; then do_rpm=1; do_image=1; fi
case "$profile" in release | debug) ;; *) echo "package.sh: profile release or debug" >&2; exit 2 ;; esac

target_dir=${CARGO_TARGET_DIR:-$root/target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
release=${PKG_RELEASE:-1}

# --- the binaries ---
if [ $build = 1 ]; then
    if [ "$profile" = release ]; then
        cargo build --locked --release -p peer --bin uyuni-cluster
    else
        cargo build --locked -p peer --bin uyuni-cluster
    fi
    scripts/build-agent.sh >/dev/null
fi
peer_bin=${PEER_BIN:-$target_dir/$profile/uyuni-cluster}
agent_bin=${AGENT_BIN:-$target_dir/x86_64-unknown-linux-musl/agent/uyuni-cluster-agent}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
cp "$peer_bin" "$stage/bin/uyuni-cluster"
cp "$agent_bin" "$stage/bin/uyuni-cluster-agent"
# Symbols are not shipped (release keeps line tables for backtraces; the debug build's are
# large): strip the copies (a -debuginfo package is the build service's business).
strip "$stage/bin/uyuni-cluster"

if [ $do_rpm = 1 ]; then
    python3 scripts/gen-config.py --check
    top=$stage/rpmbuild
    mkdir -p "$top"/{SOURCES,SPECS,BUILD,RPMS,SRPMS,BUILDROOT}
    src=$top/SOURCES
    cp "$stage/bin/uyuni-cluster" "$stage/bin/uyuni-cluster-agent" "$src/"
    cp -r packaging/systemd packaging/sysusers packaging/tmpfiles packaging/config packaging/sql "$src/"
    mkdir -p "$src/docs"
    cp README.md COPYING "$src/docs/"
    cp docs/{OPERATIONS,CONFIGURATION,SECURITY,GATEWAY,NODE-CONTROLLER,CONTENT,API,AGENT,AGENT-PROTOCOL}.md "$src/docs/"
    # zstd level 3: quick to build and to install (SUSE's own default is zstd too).
    rpmbuild -bb --quiet \
        --define "_topdir $top" \
        --define "pkg_version $version" \
        --define "pkg_release $release" \
        --define "_binary_payload w3.zstdio" \
        --define "_build_id_links none" \
        packaging/rpm/uyuni-cluster.spec
    mkdir -p "$out/rpm"
    rm -f "$out"/rpm/*.rpm
    cp "$top"/RPMS/x86_64/*.rpm "$out/rpm/"
    for f in "$out"/rpm/*.rpm; do
        echo "rpm: $f $(stat -c %s "$f") bytes"
    done
    if command -v rpmlint >/dev/null 2>&1; then
        rpmlint --strict -r packaging/rpm/uyuni-cluster.rpmlintrc "$out"/rpm/*.rpm
    else
        echo "package.sh: rpmlint not found: packages not linted" >&2
    fi
fi

if [ $do_image = 1 ]; then
    # A storage of our own (vfs: no overlay mounts, works in any container), removed after.
    store=$stage/containers
    # Docker format from the first step: the OCI format has no HEALTHCHECK.
    export BUILDAH_FORMAT=docker
    ba=(buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs)
    mkdir -p "$out/image"
    empty=$stage/empty
    mkdir -p "$empty"
    build_image() { # NAME BINARY PORTS HEALTHCMD ENTRY... (HEALTHCMD empty: none)
        local name=$1 bin=$2 ports=$3 health=$4
        shift 4
        local ctr
        ctr=$("${ba[@]}" from --quiet scratch)
        "${ba[@]}" copy --chown 0:0 --chmod 0755 "$ctr" "$stage/bin/$bin" "/usr/bin/$bin" >/dev/null
        # A dynamically linked binary (the peer: glibc) gets exactly the libraries it loads,
        # from the build host (ldd), at the paths it looks for them; the static agent none.
        local lib
        for lib in $(ldd "$stage/bin/$bin" 2>/dev/null | grep -o '/[^ ]*' || true); do
            "${ba[@]}" copy --chown 0:0 --chmod 0755 "$ctr" "$(readlink -f "$lib")" "$lib" >/dev/null
        done
        "${ba[@]}" copy --chown 0:0 --chmod 0644 "$ctr" packaging/container/etc-passwd /etc/passwd >/dev/null
        "${ba[@]}" copy --chown 0:0 --chmod 0644 "$ctr" packaging/container/etc-group /etc/group >/dev/null
        "${ba[@]}" copy --chown 65532:65532 --chmod 0700 "$ctr" "$empty" /var/lib/uyuni-cluster >/dev/null
        "${ba[@]}" copy --chown 65532:65532 --chmod 1777 "$ctr" "$empty" /tmp >/dev/null
        local cfg=(--user 65532:65532 --workingdir /var/lib/uyuni-cluster
            --env PATH=/usr/bin --env RUST_LOG=info,automerge=warn --env MALLOC_ARENA_MAX=2
            --label "org.opencontainers.image.title=$name"
            --label "org.opencontainers.image.version=$version"
            --label "org.opencontainers.image.licenses=GPL-2.0-only"
            --label "org.opencontainers.image.source=https://example.invalid/uyuni-cluster"
            --env UYUNI_CLUSTER_CA=/etc/uyuni-cluster/tls/ca.pem
            --volume /var/lib/uyuni-cluster)
        if [ -n "$health" ]; then
            cfg+=(--healthcheck "CMD $health" --healthcheck-interval 30s --healthcheck-timeout 5s
                --healthcheck-retries 3 --healthcheck-start-period 30s)
        fi
        for p in $ports; do cfg+=(--port "$p"); done
        local entry
        entry=$(printf '"%s",' "$@")
        "${ba[@]}" config "${cfg[@]}" --entrypoint "[${entry%,}]" --cmd '[]' "$ctr"
        "${ba[@]}" commit --quiet --format docker --rm "$ctr" "localhost/$name:$version" >/dev/null
        rm -f "$out/image/$name.tar"
        "${ba[@]}" push --quiet "localhost/$name:$version" "docker-archive:$out/image/$name.tar:localhost/$name:$version"
        echo "image: $out/image/$name.tar $(stat -c %s "$out/image/$name.tar") bytes"
    }
    build_image uyuni-cluster uyuni-cluster "4580/tcp 4581/tcp 8443/tcp" \
        "/usr/bin/uyuni-cluster health --peer https://127.0.0.1:4581" \
        /usr/bin/uyuni-cluster
    # The agent answers no requests: no health check (its exit is the signal; 4 = deleted).
    build_image uyuni-cluster-agent uyuni-cluster-agent "" "" \
        /usr/bin/uyuni-cluster-agent --config /etc/uyuni-cluster/agent.toml
    if [ -n "${KEEP_STORE:-}" ]; then cp -a "$store" "$KEEP_STORE"; fi
    chmod -R u+w "$store" 2>/dev/null || true
fi

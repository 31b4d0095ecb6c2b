#!/bin/sh
# Fill upstream/ (or $UYUNI_SCHEMA_DIR) with the Uyuni schema files MANIFEST.tsv lists, each
# at its recorded commit, from GitHub, and check every file's SHA-256. Needs network; run by
# hand, never by the build or the tests. A line whose commit is not a commit id
# (unrecorded:...) cannot be fetched this way: copy that file from a checkout of the same
# content (the digest is checked all the same).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=${UYUNI_SCHEMA_DIR:-$here/upstream}
grep -v '^#' "$here/MANIFEST.tsv" | while IFS="$(printf '\t')" read -r path commit chars sha; do
    [ -n "$path" ] || continue
    out="$dest/${path#schema/spacewalk/}"
    mkdir -p "$(dirname "$out")"
    if [ ! -f "$out" ]; then
        case "$commit" in
            unrecorded:*) echo "skip $path: commit not recorded ($commit)" >&2; continue ;;
        esac
        curl -fsSL "https://raw.githubusercontent.com/uyuni-project/uyuni/$commit/$path" -o "$out"
    fi
    got=$(sha256sum "$out" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
        echo "MISMATCH $path: sha256 $got, manifest $sha" >&2
        exit 1
    fi
done
echo "all files of MANIFEST.tsv present in $dest and verified"

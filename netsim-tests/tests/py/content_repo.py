"""Fetch a repository's repodata and packages through a peer's local repository, as
reposync would, and compare them with the original tree.

usage: content_repo.py BASE_URL TREE_DIR PATH...
BASE_URL is http://host:port/repo/<zone>/<name>; each PATH is relative to the tree.
"""
import hashlib
import sys
import urllib.request
import xml.etree.ElementTree as ET


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        assert r.status == 200, (url, r.status)
        body = r.read()
        length = r.headers.get("Content-Length")
        assert length is None or int(length) == len(body), (url, length, len(body))
        return body


def main():
    base, tree, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    # repomd.xml first, as a yum client does, then what it points to.
    repomd = fetch(f"{base}/repodata/repomd.xml")
    with open(f"{tree}/repodata/repomd.xml", "rb") as f:
        assert repomd == f.read(), "repomd.xml differs"
    ns = {"r": "http://linux.duke.edu/metadata/repo"}
    listed = [d.get("href") for d in ET.fromstring(repomd).findall("r:data/r:location", ns)]
    assert listed, "repomd.xml lists no metadata"
    for p in listed + paths:
        got = fetch(f"{base}/{p}")
        with open(f"{tree}/{p}", "rb") as f:
            want = f.read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(want).digest(), f"{p} differs"
    # A path outside the index is a 404, not a file of the host.
    try:
        fetch(f"{base}/..%2F..%2Fetc%2Fpasswd")
        raise AssertionError("a path outside the tree was served")
    except urllib.error.HTTPError as e:
        assert e.code == 404, e.code
    print(f"ok: {len(listed) + len(paths)} files identical")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write the packaged default configurations (packaging/config/*.toml) from the tables of
docs/CONFIGURATION.md (peer, gateway) and docs/AGENT.md (agent): every key, commented out,
with its default and meaning. `--check` fails when a committed file differs (scripts/test.sh's
packaging phase), so the packaged files cannot drift from the documented defaults."""
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| `([a-z0-9_.]+)`(?: / `([a-z0-9_.]+)`)? \|([^|]*)\|([^|]*)\|(.*)\|$")


def rows(doc):
    for line in (ROOT / doc).read_text().splitlines():
        m = ROW.match(line)
        if m:
            keys = [k for k in (m.group(1), m.group(2)) if k]
            meaning = m.group(5).strip()
            if not meaning:
                # "same, for members of other zones" rows leave it to the row above.
                meaning = "as above"
            yield keys, m.group(4).strip(), meaning


def toml_value(default):
    """The default as a TOML value when it is one literally, else None (then only described)."""
    d = default.strip("`")
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", d) or d in ("true", "false"):
        return d
    m = re.fullmatch(r"([0-9]+) \(none\)", d)
    if m:
        return m.group(1)
    if d == "[]" or default.startswith("`[]`"):
        return "[]"
    if re.fullmatch(r"[a-z_]+\.[a-z_]+", d):
        return None  # another key's value (`uyuni.url`), not a literal
    if default.startswith("`") and default.endswith("`") and " " not in d:
        return f'"{d}"'
    return None


def render(title, header, items, overrides):
    out = [f"# {title}", "#"]
    out += [f"# {l}" if l else "#" for l in header]
    out.append("")
    section = None
    for keys, default, meaning in items:
        for key in keys:
            sec, _, name = key.rpartition(".")
            if sec != section:
                out.append("")
                if sec:
                    out.append(f"[{sec}]")
                section = sec
            text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", meaning).replace("`", "")
            for l in textwrap.wrap(text, 94):
                out.append(f"# {l}")
            value = overrides.get(key, toml_value(default))
            if value is None:
                out.append(f"# Default: {default.replace('`', '')}.")
                out.append(f"#{name} = ...")
            else:
                out.append(f"#{name} = {value}")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def grouped(items):
    """Top-level keys first, then one block per table in the order tables first appear (a
    table may be declared once only)."""
    items = list(items)
    order = []
    for keys, _, _ in items:
        sec = keys[0].rpartition(".")[0]
        if sec not in order:
            order.append(sec)
    order.sort(key=lambda s: s != "")
    return sorted(items, key=lambda r: order.index(r[0][0].rpartition(".")[0]))


def main():
    peer = grouped(rows("docs/CONFIGURATION.md"))
    agent = grouped(rows("docs/AGENT.md"))
    # uyuni-cluster gateway (packaging/systemd/uyuni-cluster-gateway.service) defaults.
    gw = {"role": '"gateway"', "gateway.listen": '"127.0.0.1:8443"', "content.enabled": "false"}
    files = {
        "peer.toml": render(
            "/etc/uyuni-cluster/peer.toml: the uyuni-cluster peer (uyuni-cluster.service)",
            [
                "Every key with its default, commented out (docs/CONFIGURATION.md). Set at least",
                "name, the [tls] certificate and, beside a Uyuni server, the [uyuni] section.",
                "Unknown keys are an error. Keep this file mode 0640 root:uyuni-cluster.",
            ],
            peer,
            {},
        ),
        "gateway.toml": render(
            "/etc/uyuni-cluster/gateway.toml: the API gateway (uyuni-cluster-gateway.service)",
            [
                "`uyuni-cluster gateway` is a peer of role gateway (docs/GATEWAY.md): the same keys",
                "as peer.toml; the values shown are the gateway command's defaults.",
            ],
            peer,
            gw,
        ),
        "agent.toml": render(
            "/etc/uyuni-cluster/agent.toml: the client agent (uyuni-cluster-agent.service)",
            ["Every key with its default, commented out (docs/AGENT.md). Set at least peers."],
            agent,
            {},
        ),
    }
    check = "--check" in sys.argv
    bad = 0
    for name, text in files.items():
        path = ROOT / "packaging" / "config" / name
        if check:
            if not path.exists() or path.read_text() != text:
                print(f"gen-config: {path} differs from the documented defaults; "
                      "run scripts/gen-config.py", file=sys.stderr)
                bad = 1
        else:
            path.write_text(text)
    sys.exit(bad)


if __name__ == "__main__":
    main()

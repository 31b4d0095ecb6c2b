#!/usr/bin/env python3
"""Render the Helm chart packaging/helm/uyuni-cluster with several value sets (helm-python-sdk:
Helm's own renderer, no helm binary) and validate every manifest strictly with
kubernetes-validate against a current Kubernetes version; then check what the chart promises:
non-root, read-only root file systems, no capabilities, probes, resources, a PDB, one
StatefulSet and data volume per Uyuni server, configurations that parse as TOML and name the
right zone and [uyuni] settings, a join list without the peer itself. scripts/test.sh's
packaging phase; exit 1 on any failure."""
import sys
import tomllib
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

KUBERNETES = "1.35.0"
CHART = Path(__file__).resolve().parent.parent / "packaging" / "helm" / "uyuni-cluster"

MULTI_ZONE = {
    "zone": "hq",
    "peers": [
        {"name": "hq-srv", "clusterIP": "10.96.0.10"},
        {
            "name": "store042-srv",
            "zone": "store042",
            "clusterIP": "10.96.0.11",
            "capacity": 0.5,
            "fqdn": "srv.store042.example.org",
            "tlsSecret": "store042-tls",
            "uyuni": {
                "url": "http://uyuni.store042.svc/rpc/api",
                "user": "cluster-admin",
                "passwordSecret": "store042-uyuni",
                "db": "host=db.store042.svc port=5432 user=spacewalk dbname=susemanager",
                "dbSslmode": "require",
            },
        },
        {"name": "store043-srv", "zone": "store043", "clusterIP": "10.96.0.12"},
    ],
    "extraConfig": {
        "load": {"failure_timeout_ms": 600000},
        "membership": {"wan": {"phi_threshold": 12.5, "suspicion_timeout_ms": 120000, "window": 100}},
    },
    "gateway": {"replicas": 3},
}

CASES = {
    "default": {},
    "multi-zone": MULTI_ZONE,
    "gateway-off": {"gateway": {"enabled": False}},
}

failures = []


def check(cond, case, what):
    if not cond:
        failures.append(f"{case}: {what}")


def pod_checks(case, obj):
    name = obj["metadata"]["name"]
    pod = obj["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, case, f"{name}: runAsNonRoot")
    check(psc.get("runAsUser", 0) != 0, case, f"{name}: a non-root uid")
    check(pod.get("automountServiceAccountToken") is False, case, f"{name}: no API token")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True, case, f"{name}/{c['name']}: read-only root")
        check(sc.get("allowPrivilegeEscalation") is False, case, f"{name}/{c['name']}: no escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], case, f"{name}/{c['name']}: drop ALL")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            p = c.get(probe, {}).get("httpGet", {})
            check(p.get("path") == "/health" and p.get("scheme") == "HTTPS", case,
                  f"{name}/{c['name']}: {probe} on /health")
        res = c.get("resources", {})
        check("requests" in res and "limits" in res, case, f"{name}/{c['name']}: resources")


def configs(objs, component):
    out = {}
    for o in objs:
        if o["kind"] == "Secret" and o["metadata"]["labels"].get("app.kubernetes.io/component") == component:
            for key, text in o["stringData"].items():
                out[o["metadata"]["name"]] = tomllib.loads(text)
    return out


def run_case(case, values):
    lint = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBERNETES}")
    for m in lint.get("messages", []):
        if m.get("severity", 0) >= 2:
            failures.append(f"{case}: helm lint: {m}")
    rendered = helm.Chart.load(str(CHART)).render(values, name="uc", namespace="uyuni")
    objs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        objs += [d for d in yaml.safe_load_all(text) if d]
    for o in objs:
        try:
            kubernetes_validate.validate(o, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as e:
            failures.append(f"{case}: {o['kind']} {o['metadata']['name']}: {e.message}")
    kinds = {}
    for o in objs:
        kinds.setdefault(o["kind"], []).append(o)
        if o["kind"] == "StatefulSet":
            pod_checks(case, o)
    peers = values.get("peers", [{"name": "srv1"}])
    peer_sets = [o for o in kinds.get("StatefulSet", []) if o["metadata"]["labels"]["app.kubernetes.io/component"] == "peer"]
    check(len(peer_sets) == len(peers), case, f"{len(peers)} peer StatefulSets, got {len(peer_sets)}")
    for s in peer_sets:
        check(s["spec"]["replicas"] == 1, case, f"{s['metadata']['name']}: one replica")
        check([t["metadata"]["name"] for t in s["spec"]["volumeClaimTemplates"]] == ["data"], case,
              f"{s['metadata']['name']}: its data volume")
    gw_on = values.get("gateway", {}).get("enabled", True)
    gw_sets = [o for o in kinds.get("StatefulSet", []) if o["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"]
    check(len(gw_sets) == (1 if gw_on else 0), case, "gateway StatefulSet present iff enabled")
    services = {o["metadata"]["name"]: o for o in kinds.get("Service", [])}
    check(("uc-gateway" in services) == gw_on, case, "gateway Service present iff enabled")
    pdbs = {o["metadata"]["name"] for o in kinds.get("PodDisruptionBudget", [])}
    check("uc-peers" in pdbs, case, "the peers' PodDisruptionBudget")
    peer_cfgs = configs(objs, "peer")
    zone_default = values.get("zone", "default")
    ips = {p["name"]: p.get("clusterIP") for p in peers}
    for p in peers:
        cfg = peer_cfgs.get(f"uc-{p['name']}-config")
        check(cfg is not None, case, f"peer {p['name']}: a configuration")
        if cfg is None:
            continue
        check(cfg["name"] == p["name"], case, f"peer {p['name']}: name")
        check(cfg["zone"] == p.get("zone", zone_default), case, f"peer {p['name']}: zone")
        own = f"/ip4/{ips[p['name']]}/tcp/4580"
        check(own not in cfg["join"], case, f"peer {p['name']}: does not join itself")
        others = [f"/ip4/{ip}/tcp/4580" for n, ip in ips.items() if ip and n != p["name"]]
        check(sorted(cfg["join"]) == sorted(others), case, f"peer {p['name']}: joins the others")
        if "uyuni" in p:
            u = cfg.get("uyuni", {})
            check(u.get("url") == p["uyuni"]["url"] and u.get("db_sslmode") == p["uyuni"]["dbSslmode"],
                  case, f"peer {p['name']}: [uyuni] from values")
            check(u.get("password_file") == "/etc/uyuni-cluster/uyuni/password", case,
                  f"peer {p['name']}: the password from its Secret")
        for table, keys in values.get("extraConfig", {}).items():
            check(cfg.get(table, {}) | keys == cfg.get(table, {}), case,
                  f"peer {p['name']}: extraConfig [{table}]")
    if case == "multi-zone":
        wan = peer_cfgs["uc-hq-srv-config"]["membership"]["wan"]
        check(wan == {"phi_threshold": 12.5, "suspicion_timeout_ms": 120000, "window": 100}, case,
              f"[membership.wan] as a sub-table with integers kept: {wan}")
        check("uc-gateways" in pdbs, case, "the gateways' PodDisruptionBudget")
    print(f"check-chart: {case}: {len(objs)} manifests rendered and validated (Kubernetes {KUBERNETES}, strict)")


def main():
    for case, values in CASES.items():
        run_case(case, values)
    # Bad values are refused with a clear message.
    for bad, expect in [({"peers": [{"name": "Bad_Name"}]}, "/peers/0/name"),
                        ({"peers": [{"name": "a"}, {"name": "a"}]}, "twice"),
                        ({"peers": [{"name": "a", "uyuni": {"url": "http://x/rpc/api"}}]}, "passwordSecret"),
                        ({"peers": [{"name": "a", "capacity": 0}]}, "capacity"),
                        ({"peers": [{"name": "a", "clusterIP": "ten"}]}, "clusterIP"),
                        ({"peers": [{"name": "a", "zoen": "x"}]}, "zoen")]:
        try:
            helm.Chart.load(str(CHART)).render(bad, name="uc", namespace="uyuni")
            failures.append(f"values {bad}: rendered, should have failed")
        except helm.HelmError as e:
            check(expect in str(e), "bad values", f"{bad}: message {e}")
    for f in failures:
        print(f"check-chart: FAIL {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

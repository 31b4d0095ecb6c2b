"""The gateway's JSON API (Uyuni's /rhn/manager/api conventions), its REST API, the OpenAPI
document and Swagger UI; exits non-zero on failure.

Usage: gateway_json.py BASE   (e.g. http://127.0.0.1:PORT)
"""
import json
import sys
import urllib.error
import urllib.request

from checks import done, ok

base = sys.argv[1]


def req(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        r.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()

# Uyuni's JSON API: no session needed for the version; login sets the cookie.
st, _, body = req("GET", "/rhn/manager/api/api/getVersion")
ok(st == 200 and json.loads(body)["success"], "getVersion " + body)
st, _, body = req("GET", "/rhn/manager/api/system/listSystems")
ok(st == 401, "no cookie: %d" % st)
st, _, body = req("POST", "/rhn/manager/api/auth/login", {"login": "admin", "password": "nope"})
ok(st == 401 and not json.loads(body)["success"], "bad login %d %s" % (st, body))
st, _, body = req("GET", "/rhn/manager/api/auth/login?login=admin&password=admin")
ok(st == 400, "login with GET: %d" % st)
st, h, body = req("POST", "/rhn/manager/api/auth/login", {"login": "admin", "password": "admin"})
ok(st == 200 and json.loads(body) == {"success": True}, "login " + body)
cookie = (h.get("Set-Cookie") or "").split(";")[0]
ok(cookie.startswith("pxt-session-cookie="), "cookie " + cookie)
jar = {"Cookie": cookie}
st, _, body = req("GET", "/rhn/manager/api/system/listSystems", headers=jar)
systems = json.loads(body)
ok(st == 200 and systems["success"] and len(systems["result"]) >= 6, "listSystems " + body)
sid = systems["result"][0]["id"]
st, _, body = req("GET", "/rhn/manager/api/system/getDetails?sid=%d" % sid, headers=jar)
ok(st == 200 and json.loads(body)["result"]["id"] == sid, "getDetails " + body)
st, _, body = req("GET", "/rhn/manager/api/system/getDetails?sid=42", headers=jar)
d = json.loads(body)
ok(st == 200 and not d["success"] and "No such system" in d["message"], "fault " + body)
st, _, body = req("POST", "/rhn/manager/api/system/listSystems", {}, headers=jar)
ok(st == 400, "read-only method with POST: %d" % st)
st, _, body = req("GET", "/rhn/manager/api/systemgroup/listAllGroups", headers=jar)
ok(st == 200 and any(g["name"] == "web" for g in json.loads(body)["result"]), "groups " + body)

# The cluster's REST API: bearer sessions, nodes, the OpenAPI document, Swagger UI.
st, _, body = req("GET", "/api/v1/nodes")
ok(st == 401, "REST without a session: %d" % st)
st, _, body = req("POST", "/api/v1/login", {"username": "admin", "password": "admin"})
ok(st == 200, "REST login " + body)
bearer = {"Authorization": "Bearer " + json.loads(body)["session"]}
st, _, body = req("GET", "/api/v1/nodes", headers=bearer)
nodes = json.loads(body)
ok(st == 200 and len(nodes) == 3, "nodes " + body)
ok(len({n["slot"] for n in nodes}) == 3, body)
ok(all(n["status"] in ("alive", "suspect") for n in nodes), body)
st, _, body = req("GET", "/api/v1/openapi.json")
doc = json.loads(body)
ok(st == 200 and doc["openapi"].startswith("3."), "openapi " + body[:100])
for p in ("/api/v1/nodes", "/api/v1/systems", "/api/v1/systems/bulk", "/api/v1/login", "/api/v1/audit"):
    ok(p in doc["paths"], "path %s documented" % p)
st, _, body = req("GET", "/swagger-ui/")
ok(st == 200 and "swagger-ui" in body, "swagger ui %d" % st)
st, _, body = req("GET", "/swagger-ui/swagger-initializer.js")
ok(st == 200 and "/api/v1/openapi.json" in body, "swagger initializer " + body[:200])
ok("https://" not in body and "cdn" not in body, "no external assets")
done()

"""Drive the API gateway with xmlrpc.client the way spacecmd does, and compare every answer
with what one big server holding all the nodes' systems would give (computed from the nodes
themselves). Exits non-zero on the first difference.

Usage: gateway_spacecmd.py GATEWAY_URL NODE_URL...
"""
import re
import sys
import xmlrpc.client as xc

from checks import done, fault, ok

gw_url, node_urls = sys.argv[1], sys.argv[2:]
gw = xc.ServerProxy(gw_url)

nodes = []
for u in node_urls:
    s = xc.ServerProxy(u)
    nodes.append((s, s.auth.login("admin", "admin")))

# spacecmd's startup: api.getVersion without a session, then login (a bad password is the
# node's own fault, code 2950), then the cached-key check.
ok(float(gw.api.getVersion()) >= 10.8, "api version")
ok(gw.api.systemVersion() == nodes[0][0].api.systemVersion(), "system version")
fault(lambda: gw.auth.login("admin", "wrong"), 2950, "")
key = gw.auth.login("admin", "admin")
ok(re.fullmatch(r"[1-9][0-9]*x[a-f0-9]{64}", key) is not None, "key format " + key)
ok(isinstance(gw.user.listAssignableRoles(key), list), "roles with the new key")
fault(lambda: gw.user.listAssignableRoles("12x" + "0" * 64), -1, "Could not find session")
fault(lambda: gw.system.listSystems("not-a-key"), -1, "Could not find session")

# system_list: every node's systems, each under an id of its own.
systems = gw.system.listSystems(key)
want = sorted(s["name"] for n, k in nodes for s in n.system.listSystems(k))
ok(sorted(s["name"] for s in systems) == want, "system names %r != %r" % (systems, want))
ids = [s["id"] for s in systems]
ok(len(set(ids)) == len(ids), "ids unique: %r" % ids)
ok(ids == sorted(ids), "listed in id order")
ok(all(isinstance(s["last_checkin"], xc.DateTime) for s in systems), "dateTime values")
node_ids = [s["id"] for n, k in nodes for s in n.system.listSystems(k)]
ok(len(set(node_ids)) < len(node_ids), "the nodes' own ids do collide (test premise)")

# system_details on every system: answered by the node that holds it, in gateway ids.
for s in systems:
    sid = s["id"]
    name = gw.system.getName(key, sid)
    ok(name["name"] == s["name"] and name["id"] == sid, "getName %r" % name)
    d = gw.system.getDetails(key, sid)
    ok(d["id"] == sid and d["profile_name"] == s["name"], "getDetails %r" % d)
    ok(isinstance(gw.system.getRegistrationDate(key, sid), xc.DateTime), "registration date")
    gw.system.getUuid(key, sid)
    ok("ip" in gw.system.getNetwork(key, sid), "getNetwork")
    gw.system.getEntitlements(key, sid)
    gw.system.getSubscribedBaseChannel(key, sid)
    gw.system.listSubscribedChildChannels(key, sid)
    gw.system.listGroups(key, sid)
fault(lambda: gw.system.getDetails(key, 42), -208, "No such system")

# group_list / group_listsystems: common data once, counts summed over the nodes.
groups = gw.systemgroup.listAllGroups(key)
want = {}
for n, k in nodes:
    for g in n.systemgroup.listAllGroups(k):
        want[g["name"]] = want.get(g["name"], 0) + g["system_count"]
ok({g["name"]: g["system_count"] for g in groups} == want, "groups %r != %r" % (groups, want))
for g in groups:
    # group_details: the group's members on every node (was one node's count).
    d = gw.systemgroup.getDetails(key, g["name"])
    ok(d["system_count"] == want[g["name"]], "group_details %r != %d" % (d, want[g["name"]]))
    members = gw.systemgroup.listSystems(key, g["name"])
    ok(len(members) == want[g["name"]], "members of %s: %r" % (g["name"], members))
    ok(all(m["id"] in ids for m in members), "member ids are gateway ids")

# softwarechannel_list, activationkey_list: union of the zones' common data.
chans = sorted(c["label"] for c in gw.channel.listAllChannels(key))
want = sorted({c["label"] for n, k in nodes for c in n.channel.listAllChannels(k)})
ok(chans == want, "channels %r != %r" % (chans, want))
for label in chans:
    ok(gw.channel.software.getDetails(key, label)["label"] == label, "channel details")
keys = sorted(a["key"] for a in gw.activationkey.listActivationKeys(key))
want = sorted({a["key"] for n, k in nodes for a in n.activationkey.listActivationKeys(k)})
ok(keys == want, "activation keys %r != %r" % (keys, want))

# schedule_list: every node's actions, ids unique.
for m in ("listInProgressActions", "listCompletedActions", "listFailedActions"):
    got = getattr(gw.schedule, m)(key)
    want = sum(len(getattr(n.schedule, m)(k)) for n, k in nodes)
    ok(len(got) == want, "%s: %d != %d" % (m, len(got), want))
    aids = [a["id"] for a in got]
    ok(len(set(aids)) == len(aids), "action ids unique")

# A method outside the catalogue of Uyuni's API is refused with Uyuni's own fault; one that
# acts on a server's own installation is refused with the cluster's reason (2801).
fault(lambda: gw.system.noSuchCall(key), -1, "Could not find method: noSuchCall")
fault(lambda: gw.sync.master.getMasters(key), 2801, "refused in a cluster")
ns = gw.api.getApiNamespaces(key)
ok("system" in ns and "systemgroup" in ns, "namespaces")

# system_delete of the last system: gone from the cluster's list; asked again, the node's
# own -208 fault comes back unchanged.
last = systems[-1]["id"]
ok(gw.system.deleteSystem(key, last) == 1, "delete")
ok(last not in [s["id"] for s in gw.system.listSystems(key)], "deleted system gone")
fault(lambda: gw.system.getDetails(key, last), -208, "No such system")

# Logout ends the session on every replica; the session key of another login still works.
key2 = gw.auth.login("admin", "admin")
ok(gw.auth.logout(key) == 1, "logout")
ok(isinstance(gw.system.listSystems(key2), list), "another session unaffected")
fault(lambda: gw.system.listSystems(key), -1, "Could not find session")
done()

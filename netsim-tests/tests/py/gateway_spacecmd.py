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

# ---- Actions across the nodes, the way spacecmd's schedule.py and system.py call them ----
# (uyuni spacecmd/src/spacecmd/schedule.py: print_schedule_summary, do_schedule_details,
# do_schedule_getoutput, do_schedule_reschedule, do_schedule_cancel; system.py:
# do_system_reboot, do_system_listevents, do_system_listcustomvalues). Each printed line is
# rendered with spacecmd's own format strings and checked.
name_of = {x["id"]: x["name"] for x in systems}  # spacecmd's cached system list
when = xc.DateTime("20250101T00:00:00")
reboots = {}
for sid in ids:  # system_reboot on every system: one action per system, on its own node
    aid = gw.system.scheduleReboot(key, sid, when)
    ok(isinstance(aid, int), "reboot action id %r" % aid)
    reboots[aid] = sid
ok(len(set(reboots)) == len(ids), "action ids unique across nodes: %r" % reboots)
script_on = ids[-1]
script = gw.system.scheduleScriptRun(key, [script_on], "root", "root", 60, "#!/bin/sh\nuptime", when)
failing = gw.system.scheduleScriptRun(key, [ids[0]], "root", "root", 60, "exit 1", when)


def summary(actions):
    # print_schedule_summary (API >= 10.11): one line per action, newest id first.
    out = []
    for a in sorted(actions, key=lambda a: a["id"], reverse=True):
        out.append("%s  %s   %s  %s  %s    %s" % (
            str(a.get("id")).ljust(6), a.get("earliest"), str(a.get("completedSystems")).rjust(3),
            str(a.get("failedSystems")).rjust(3), str(a.get("inProgressSystems")).rjust(3),
            a.get("name")))
    return out


completed = summary(gw.schedule.listCompletedActions(key))
for aid in list(reboots) + [script]:
    ok(any(l.startswith(str(aid).ljust(6)) and l.split()[2:5] == ["1", "0", "0"] for l in completed),
       "schedule_listcompleted shows %d: %r" % (aid, completed))
failed = summary(gw.schedule.listFailedActions(key))
ok(any(l.startswith(str(failing).ljust(6)) for l in failed), "schedule_listfailed %r" % failed)
ok(summary(gw.schedule.listInProgressActions(key)) == [], "schedule_listpending: nothing pending")

# schedule_details ID: the systems of the action, by name.
for aid, sid in reboots.items():
    done_sys = gw.schedule.listCompletedSystems(key, aid)
    ok([x.get("server_name") for x in done_sys] == [name_of[sid]], "details %d: %r" % (aid, done_sys))
    ok(gw.schedule.listFailedSystems(key, aid) == [], "no failed systems")
    ok(gw.schedule.listInProgressSystems(key, aid) == [], "no pending systems")
    action = {a.get("id"): a for a in gw.schedule.listAllActions(key)}.get(aid)
    ok(action is not None and "ID:        %i" % action.get("id") == "ID:        %i" % aid,
       "schedule_details finds %d" % aid)

# schedule_getoutput ID: the script's output, its system resolved by the cached list.
results = gw.system.getScriptResults(key, script)
ok([name_of.get(r.get("serverId"), "UNKNOWN") for r in results] == [name_of[script_on]],
   "getoutput system: %r" % results)
ok("Return Code: %i" % results[0].get("returnCode") == "Return Code: 0", "return code")
ok("uptime" in results[0].get("output"), "output %r" % results)
ok(gw.system.getScriptResults(key, list(reboots)[0]) == [], "not a script: completed/failed path")
fault(lambda: gw.system.getScriptResults(key, 5), 2700, "No such action")

# schedule_reschedule ID: only failed actions, and then they complete.
ok(failing in [a.get("id") for a in gw.schedule.listFailedActions(key)], "failed listed")
ok(gw.schedule.rescheduleActions(key, [failing], True) == 1, "rescheduled")
ok([x["server_id"] for x in gw.schedule.listCompletedSystems(key, failing)] == [ids[0]],
   "rescheduled action completed on its node")

# system_listevents: the reboot and script of the system, under gateway action ids.
events = gw.system.getEventHistory(key, script_on)
ok(sorted(e["id"] for e in events) == sorted([script] + [a for a, s in reboots.items() if s == script_on]),
   "event ids %r" % events)
ok(all(("Summary:   %s" % e.get("summary")).strip() != "Summary:" for e in events), "summaries")

# system_listhardware and system_listinstalledpackages on systems of every node.
for sid in ids:
    cpu = gw.system.getCpu(key, sid)
    ok("CPU:  %s" % cpu.get("model") != "CPU:  None", "getCpu %r" % cpu)
    mem = gw.system.getMemory(key, sid)
    ok(isinstance(mem.get("ram"), int), "getMemory %r" % mem)
    ok(isinstance(gw.system.getDevices(key, sid), list), "getDevices")
    ok(isinstance(gw.system.getDmi(key, sid), dict), "getDmi")
    ok(all("interface" in d for d in gw.system.getNetworkDevices(key, sid)), "getNetworkDevices")
    ok(gw.system.listPackages(key, sid) == [], "no packages installed on seeded systems")

# system_addcustomvalue / system_listcustomvalues on systems of every node.
for sid in ids:
    ok(gw.system.setCustomValues(key, sid, {"rack": "r%d" % (sid % 1000)}) == 1, "set custom")
    ok(gw.system.getCustomValues(key, sid) == {"rack": "r%d" % (sid % 1000)}, "custom values")

# schedule_cancel / archive / delete with actions of several nodes in one call.
all_ids = list(reboots) + [script, failing]
ok(gw.schedule.archiveActions(key, all_ids) == 1, "archive across nodes")
archived = [a["id"] for a in gw.schedule.listArchivedActions(key)]
ok(sorted(archived) == sorted(all_ids), "archived %r" % archived)
ok(gw.schedule.deleteActions(key, all_ids) == 1, "delete across nodes")
ok(gw.schedule.listArchivedActions(key) == [] and gw.schedule.listAllActions(key) == [], "deleted")
for n, k in nodes:
    ok(n.schedule.listAllActions(k) == [] and n.schedule.listArchivedActions(k) == [], "gone on the node")

# ---- One action over systems of both nodes (spacecmd's system_installpackage,
# system_runscript, system_reboot with several systems): ONE action id, as one server
# answers, and every follow-up by it covers every node's systems (schedule.py:
# do_schedule_details, do_schedule_getoutput, do_schedule_reschedule, do_schedule_cancel,
# do_schedule_archive, do_schedule_delete). ----
ok(len({s // 1000000 for s in ids}) >= 2, "systems on several nodes (test premise)")
multi = gw.system.schedulePackageInstall(key, ids, [], when)
ok(isinstance(multi, int), "one action id %r" % multi)
ok(sorted(x["server_id"] for x in gw.schedule.listCompletedSystems(key, multi)) == sorted(ids),
   "schedule_details: every node's systems")
ok(sorted(x.get("server_name") for x in gw.schedule.listCompletedSystems(key, multi)) ==
   sorted(name_of[i] for i in ids), "schedule_details: names")
ok(gw.schedule.listFailedSystems(key, multi) == [], "no failed systems")
ok(gw.schedule.listInProgressSystems(key, multi) == [], "no pending systems")
listed = gw.schedule.listAllActions(key)
ok([a["id"] for a in listed] == [multi], "the nodes' actions listed once: %r" % listed)
ok(listed[0]["completedSystems"] == len(ids), "completed systems summed: %r" % listed)
line = summary(gw.schedule.listCompletedActions(key))
ok(len(line) == 1 and line[0].split()[2:5] == [str(len(ids)), "0", "0"],
   "schedule_listcompleted: %r" % line)
for n, k in nodes:
    ok(len(n.schedule.listAllActions(k)) == 1, "one action on each node")
for sid in ids:  # system_listevents: the cluster action's id on every system
    ok(multi in [e["id"] for e in gw.system.getEventHistory(key, sid)], "event of %d" % sid)
run = gw.system.scheduleScriptRun(key, ids, "root", "root", 60, "exit 1", when)
ok(isinstance(run, int) and run != multi, "one script action %r" % run)
ok(sorted(x["server_id"] for x in gw.schedule.listFailedSystems(key, run)) == sorted(ids),
   "failed on every node")
ok(sorted(r["serverId"] for r in gw.system.getScriptResults(key, run)) == sorted(ids),
   "schedule_getoutput: every node's results")
# The script's details (system.getScriptActionDetails): the script once, under the one id,
# with every node's results (was the first node's).
det = gw.system.getScriptActionDetails(key, run)
ok(det["id"] == run and det["content"] == "exit 1" and det["username"] == "root",
   "script details %r" % det)
ok(sorted(r["serverId"] for r in det["result"]) == sorted(ids),
   "script details: every node's results %r" % det)
ok(all("Return Code: %i" % r["returnCode"] == "Return Code: 1"
       for r in gw.system.getScriptResults(key, run)), "failed return codes")
ok(gw.schedule.rescheduleActions(key, [run], True) == 1, "schedule_reschedule")
ok(sorted(x["server_id"] for x in gw.schedule.listCompletedSystems(key, run)) == sorted(ids),
   "rescheduled on every node")
ok(gw.schedule.cancelActions(key, [run]) == 1, "schedule_cancel (nothing pending)")
ok(gw.schedule.archiveActions(key, [multi, run]) == 1, "schedule_archive")
ok(sorted(a["id"] for a in gw.schedule.listArchivedActions(key)) == sorted([multi, run]),
   "archived once each")
ok(gw.schedule.deleteActions(key, [multi, run]) == 1, "schedule_delete")
for n, k in nodes:
    ok(n.schedule.listAllActions(k) == [] and n.schedule.listArchivedActions(k) == [],
       "deleted on every node")
fault(lambda: gw.schedule.listCompletedSystems(key, multi), 2700, "No such action")

# user_list, user_details (user.py): common data, the organisation by its id (org_id of the
# details, a node's number: the gateway looks the organisation up by name).
users = sorted(u.get("login") for u in gw.user.listUsers(key))
ok(users == sorted(u.get("login") for u in nodes[0][0].user.listUsers(nodes[0][1])),
   "user_list %r" % users)
ok("admin" in users, "admin listed")
for login in users:
    u = gw.user.getDetails(key, login)
    ok("Username:      %s" % u.get("login", login) == "Username:      %s" % login, "user_details %r" % u)
    roles = gw.user.listRoles(key, login)
    groups = gw.user.listAssignedSystemGroups(key, login)
    default_groups = gw.user.listDefaultSystemGroups(key, login)
    ok(isinstance(roles, list) and isinstance(groups, list) and isinstance(default_groups, list),
       "roles and groups")
    org_name = gw.org.getDetails(key, u.get("org_id")).get("name")
    ok("Organisation:  %s" % org_name == "Organisation:  Default Organization",
       "user_details organisation %r" % org_name)

# org_list, org_details (org.py): the organisation once; its systems are every node's,
# its users (common data) counted once.
orgs = [o.get("name") for o in gw.org.listOrgs(key)]
ok(orgs == ["Default Organization"], "org_list %r" % orgs)
d = gw.org.getDetails(key, "Default Organization")
total = sum(len(n.system.listSystems(k)) for n, k in nodes)
ok("Systems:                %i" % d.get("systems") == "Systems:                %i" % total,
   "org_details systems %r != %d" % (d, total))
one = nodes[0][0].org.getDetails(nodes[0][1], "Default Organization")
for field in ("active_users", "system_groups", "activation_keys", "configuration_channels"):
    ok(d.get(field) == one.get(field), "org_details %s: %r != %r" % (field, d, one))
ok(gw.org.listOrgs(key)[0]["systems"] == total, "org_list systems summed")
ok(sorted(x["label"] for x in gw.configchannel.listGlobals(key)) ==
   sorted({x["label"] for n, k in nodes for x in n.configchannel.listGlobals(k)}), "configchannel_list")
ok("schedule" in gw.api.getApiCallList(key), "api: call list")

# ---- activationkey_details / activationkey_listsystems, softwarechannel_details and
# configchannel_details (spacecmd's activationkey.py, softwarechannel.py, configchannel.py):
# a key and a configuration channel on every node (common data, replayed per node: the
# group's id differs per node); every field and call spacecmd reads answers. ----
for n, k in nodes:
    gid = [g["id"] for g in n.systemgroup.listAllGroups(k) if g["name"] == "web"][0]
    n.activationkey.create(k, "webkey", "web key", "", [], False)
    n.activationkey.addServerGroups(k, "1-webkey", [gid])
    n.configchannel.create(k, "motd", "motd", "message of the day")
    n.configchannel.createOrUpdatePath(k, "motd", "/etc/motd", False,
                                       {"contents": "hello", "owner": "root", "group": "root",
                                        "permissions": "644"})
    n.activationkey.setConfigChannels(k, ["1-webkey"], ["motd"])
ak = gw.activationkey.getDetails(key, "1-webkey")
ok(all(f in ak for f in ("key", "description", "universal_default", "usage_limit",
                         "base_channel_label", "child_channel_labels", "entitlements",
                         "server_group_ids", "package_names", "packages", "contact_method")),
   "activationkey_details fields %r" % ak)
# spacecmd names the key's groups with systemgroup.getDetails(<id of the key's answer>): the
# id is the answering node's, looked up on that same node.
ok([gw.systemgroup.getDetails(key, g)["name"] for g in ak["server_group_ids"]] == ["web"],
   "activationkey_details groups %r" % ak)
ok([c["label"] for c in gw.activationkey.listConfigChannels(key, "1-webkey")] == ["motd"],
   "activationkey_details config channels")
ok(gw.activationkey.checkConfigDeployment(key, "1-webkey") in (0, 1), "config deployment")
ok(all("hostname" in s for s in gw.activationkey.listActivatedSystems(key, "1-webkey")),
   "activationkey_listsystems")
for label in chans:
    d = gw.channel.software.getDetails(key, label)
    ok(all(f in d for f in ("label", "name", "arch_name", "parent_channel_label", "summary",
                            "description", "gpg_key_id", "gpg_key_fp", "gpg_key_url",
                            "contentSources")), "softwarechannel_details fields %r" % d)
    subscribed = gw.channel.software.listSubscribedSystems(key, label)
    want = sum(len(n.channel.software.listSubscribedSystems(k, label)) for n, k in nodes
               if label in [c["label"] for c in n.channel.listAllChannels(k)])
    ok(len(subscribed) == want, "Systems Subscribed %d != %d" % (len(subscribed), want))
    ok(isinstance(gw.channel.software.listAllPackages(key, label), list), "Number of Packages")
    ok(gw.kickstart.tree.list(key, label) == [], "kickstart trees")
cc = gw.configchannel.getDetails(key, "motd")
ok(cc["label"] == "motd" and cc["name"] == "motd" and cc["description"] == "message of the day"
   and cc["configChannelType"]["label"] == "normal", "configchannel_details %r" % cc)
ok([f["path"] for f in gw.configchannel.listFiles(key, "motd")] == ["/etc/motd"],
   "configchannel_details files")

# A method outside the catalogue of Uyuni's API is refused with Uyuni's own fault; one that
# acts on a server's own installation is refused with the cluster's reason (2801).
fault(lambda: gw.system.noSuchCall(key), -1, "Could not find method: noSuchCall")
fault(lambda: gw.sync.master.getMasters(key), 2801, "refused in a cluster")
ns = gw.api.getApiNamespaces(key)
ok("system" in ns and "systemgroup" in ns, "namespaces")

# ---- errata_* and package_* (spacecmd's errata.py, package.py, and the caches of misc.py).
# Content is synchronised: every node of a zone imports the same packages and errata in the
# same order (a reposync; the stand-in's /standin/package and /standin/erratum hooks). Each
# node has the old nginx build installed on its first system; the new build and the erratum
# shipping it are in each zone's base channel. Zone store1 has one erratum more. ----
import json
import urllib.request


def hook(url, path, body):
    req = urllib.request.Request(url[: -len("/rpc/api")] + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["id"]


installed = set()
for (n, k), u in zip(nodes, node_urls):
    base = [c["label"] for c in n.channel.listSoftwareChannels(k)
            if not c.get("parent_label")]
    first = sorted(n.system.listSystems(k), key=lambda x: x["id"])[0]
    installed.add(first["name"])
    old = hook(u, "/standin/package", {"name": "nginx", "version": "1.20", "release": "1",
                                        "arch": "x86_64", "installed_on": [first["id"]]})
    new = hook(u, "/standin/package", {"name": "nginx", "version": "1.22", "release": "1",
                                        "arch": "x86_64", "channels": base,
                                        "summary": "a web server", "description": "nginx"})
    hook(u, "/standin/erratum", {"advisory_name": "SUSE-2026-0001", "advisory_type": "Security Advisory",
                                  "synopsis": "nginx security update", "product": "SLES",
                                  "topic": "t", "description": "d", "solution": "update",
                                  "channels": base, "packages": [new]})
    if "store-base" in base:
        hook(u, "/standin/erratum", {"advisory_name": "SUSE-2026-0002", "advisory_type": "Bug Fix Advisory",
                                      "synopsis": "store fix", "channels": base, "packages": [new]})
name_to_gw = {s["name"]: s["id"] for s in gw.system.listSystems(key)}

# errata_list / errata_search (generate_errata_cache): listSoftwareChannels, then
# channel.software.listErrata of each channel (the zone holding it answers).
errata = {}
for c in gw.channel.listSoftwareChannels(key):
    for e in gw.channel.software.listErrata(key, c["label"]):
        errata[e["advisory_name"]] = e
ok(sorted(errata) == ["SUSE-2026-0001", "SUSE-2026-0002"], "errata_list %r" % sorted(errata))
ok(all(isinstance(e["id"], int) and e.get("advisory_synopsis") and e.get("advisory_type") and
       isinstance(e.get("date"), xc.DateTime) for e in errata.values()), "errata cache fields %r" % errata)
ok([n for n in errata if re.search("store", errata[n]["advisory_synopsis"], re.I)] == ["SUSE-2026-0002"],
   "errata_search by synopsis")
ok(gw.errata.findByCve(key, "CVE-2026-0001") == [], "errata_search CVE: none loaded")

# errata_details / errata_listaffectedsystems: details from one node (common data), the
# affected systems merged from every node, in gateway ids.
d = gw.errata.getDetails(key, "SUSE-2026-0001")
ok(d["type"] == "Security Advisory" and d["product"] == "SLES" and d["solution"] == "update" and
   isinstance(d["issue_date"], xc.DateTime), "errata_details %r" % d)
pk = gw.errata.listPackages(key, "SUSE-2026-0001")
ok(["%s-%s-%s.%s" % (p["name"], p["version"], p["release"], p["arch_label"]) for p in pk] ==
   ["nginx-1.22-1.x86_64"], "errata packages %r" % pk)
ok(gw.errata.listCves(key, "SUSE-2026-0001") == [], "errata cves")
# A strict client (X-Uyuni-Cluster-Strict: 1) gets a fault for any node that fails, so an
# answer to it is whole: nodes that lack the erratum hold no part of it and do not fail.
strict = xc.ServerProxy(gw_url, headers=[("X-Uyuni-Cluster-Strict", "1")])
# errata_details' channel list: every zone's channels that ship it (was one zone's).
ch = sorted(c["label"] for c in strict.errata.applicableToChannels(key, "SUSE-2026-0001"))
ok(ch == ["dc1-base", "store-base"], "errata channels of every zone %r" % ch)
ch = [c["label"] for c in strict.errata.applicableToChannels(key, "SUSE-2026-0002")]
ok(ch == ["store-base"], "a zone's own erratum: its channels %r" % ch)
affected = strict.errata.listAffectedSystems(key, "SUSE-2026-0001")
ok(sorted(s["name"] for s in affected) == sorted(installed), "affected %r != %r" % (affected, installed))
ok(all(name_to_gw[s["name"]] == s["id"] for s in affected), "affected systems in gateway ids")
# An erratum only zone store1 publishes: its systems, the dc1 nodes hold no part (they
# answer "cannot be found": not a failure).
store_installed = [n for n in installed if n.startswith("c")]
affected = strict.errata.listAffectedSystems(key, "SUSE-2026-0002")
ok(sorted(s["name"] for s in affected) == store_installed,
   "affected by a zone's own erratum %r != %r" % (affected, store_installed))
# No node has it: the fault exactly as one server gives it.
f = fault(lambda: strict.errata.listAffectedSystems(key, "SUSE-1999-9999"), -208, "cannot be found")
ok(f.faultString.endswith("The errata SUSE-1999-9999 cannot be found."), "unchanged %r" % f.faultString)
ok("cluster node" not in f.faultString, "no node named: %r" % f.faultString)
ok(gw.errata.getDetails(key, "SUSE-2026-0002")["synopsis"] == "store fix", "a zone's own erratum")
fault(lambda: gw.errata.getDetails(key, "SUSE-1999-9999"), -208, "cannot be found")

# package_search / package_details / package_listinstalledsystems (generate_package_cache:
# channel.software.listAllPackages of every channel; then by package id).
pkgs = {}
for c in gw.channel.listSoftwareChannels(key):
    for p in gw.channel.software.listAllPackages(key, c["label"]):
        pkgs.setdefault("%s-%s-%s.%s" % (p["name"], p["version"], p["release"], p["arch_label"]), set()).add(p["id"])
ok(sorted(pkgs) == ["nginx-1.22-1.x86_64"], "package cache %r" % pkgs)
for pid in pkgs["nginx-1.22-1.x86_64"]:
    det = gw.packages.getDetails(key, pid)
    ok(det["name"] == "nginx" and det["version"] == "1.22" and det["arch_label"] == "x86_64" and
       det["checksum_type"] == "sha256" and det["file"] == "nginx-1.22-1.x86_64.rpm" and
       det["description"] == "nginx", "package_details %r" % det)
    chans = sorted(c["label"] for c in strict.packages.listProvidingChannels(key, pid))
    ok(chans == ["dc1-base", "store-base"], "providing channels of every zone %r" % chans)
    errs = sorted(e["advisory"] for e in strict.packages.listProvidingErrata(key, pid))
    ok(errs == ["SUSE-2026-0001", "SUSE-2026-0002"], "providing errata of every zone %r" % errs)
    ok(gw.system.listSystemsWithPackage(key, pid) == [], "nobody has the new build yet")
# The old build: its id as each node numbers it (the same import order everywhere), read by
# name on every node.
old_pid = [p["id"] for p in nodes[0][0].system.listPackages(nodes[0][1], sorted(
    nodes[0][0].system.listSystems(nodes[0][1]), key=lambda x: x["id"])[0]["id"])]
ok(len(old_pid) == 1, "old build installed on node 0 %r" % old_pid)
with_old = gw.system.listSystemsWithPackage(key, old_pid[0])
ok(sorted(s["name"] for s in with_old) == sorted(installed), "package_listinstalledsystems %r" % with_old)
ok(all(name_to_gw[s["name"]] == s["id"] for s in with_old), "installed systems in gateway ids")
by_nvr = gw.system.listSystemsWithPackage(key, "nginx", "1.20", "1")
ok(sorted(s["id"] for s in by_nvr) == sorted(s["id"] for s in with_old), "by name, version, release")
for sid in (name_to_gw[n] for n in installed):
    ok([p["version"] for p in gw.system.listPackages(key, sid)] == ["1.20"], "system_listinstalledpackages")

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

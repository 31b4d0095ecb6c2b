"""Drive the Uyuni stand-in with xmlrpc.client the way spacecmd does; exit non-zero on failure.

Usage: standin_xmlrpc.py URL BASE
"""
import json
import re
import sys
import urllib.request
import xmlrpc.client as xc

from checks import done, fault, ok

url, base = sys.argv[1], sys.argv[2]
c = xc.ServerProxy(url)

# spacecmd's startup
ok(float(c.api.getVersion()) >= 10.8, "api version")
fault(lambda: c.auth.login("admin", "wrong"), 2950, "")
key = c.auth.login("admin", "admin")
ok(re.fullmatch(r"[1-9][0-9]*x[a-f0-9]{64}", key) is not None, "key format " + key)
key3 = c.auth.login("admin", "admin", 60)  # overload with duration
ok(key3 != key, "second session")
roles = c.user.listAssignableRoles(key)
ok("org_admin" in roles, "roles")
fault(lambda: c.system.listSystems("1x" + "0" * 64), -1, "Could not find session")
fault(lambda: c.system.listSystems("garbage"), -1, "Could not find session")
fault(lambda: c.system.noSuchThing(key), -1, "Could not find method")
fault(lambda: c.system.getDetails(key, 1, 2, 3), -1, "Could not find method")
fault(lambda: c.system.getDetails(key, 42), -208, "No such system - sid = 42")
ok(c.system.listSystems(key) == [], "no systems yet")
ok(c.schedule.listInProgressActions(key) == [], "no actions")
ok(c.schedule.listCompletedActions(key) == [], "no actions")
ok(c.schedule.listFailedActions(key) == [], "no actions")
ok(isinstance(c.api.systemVersion(), str), "systemVersion")
ns = c.api.getApiNamespaces(key)
ok(ns.get("channel.software") == "ChannelSoftwareHandler", "namespaces %r" % ns)
cl = c.api.getApiNamespaceCallList(key, "auth")
ok(any(k.startswith("auth.login") for k in cl), "call list %r" % cl)
ok("contentmanagement" in c.api.getApiCallList(key), "call list")

# channels: overloads (5..8 params after the session) and a round trip
ok(c.channel.software.create(key, "base-x86", "Base x86", "sum", "channel-x86_64", "") == 1, "create 5")
ok(c.channel.software.create(key, "child-one", "Child One", "sum", "channel-x86_64", "base-x86", "sha1") == 1, "create 6")
ok(c.channel.software.create(key, "child-two", "Child Two", "sum", "channel-x86_64", "base-x86", "sha256",
                             {"url": "http://k", "id": "ABCD", "fingerprint": "AA BB"}) == 1, "create 7")
ok(c.channel.software.create(key, "other-arm", "Other ARM", "sum", "channel-aarch64", "", "sha256",
                             {}, False) == 1, "create 8")
fault(lambda: c.channel.software.create(key, "base-x86", "Base x86 again", "s", "channel-x86_64", ""), 1201, "base-x86")
fault(lambda: c.channel.software.create(key, "a", "b"), -1, "Could not find method")
d = c.channel.software.getDetails(key, "child-two")
for f in ["id", "label", "name", "arch_name", "arch_label", "summary", "description", "checksum_label",
          "parent_channel_label", "gpg_key_url", "gpg_key_id", "gpg_key_fp", "gpg_check", "last_modified",
          "maintainer_name", "maintainer_email", "maintainer_phone", "support_policy", "end_of_life",
          "clone_original", "contentSources"]:
    ok(f in d, "channel field " + f)
ok(d["parent_channel_label"] == "base-x86" and d["gpg_key_id"] == "ABCD" and d["arch_label"] == "channel-x86_64", "details %r" % d)
ok(isinstance(d["last_modified"], xc.DateTime), "last_modified is a DateTime")
ok(isinstance(d["id"], int) and isinstance(d["gpg_check"], bool), "types")
ok(c.channel.software.getDetails(key, d["id"])["label"] == "child-two", "getDetails by id")
ok(c.channel.software.getDetails(key, "other-arm")["gpg_check"] is False, "gpgCheck false")
ok(c.channel.software.setDetails(key, d["id"], {"description": "new desc", "maintainer_name": "me"}) == 1, "setDetails")
ok(c.channel.software.getDetails(key, "child-two")["description"] == "new desc", "setDetails applied")
labels = [ch["label"] for ch in c.channel.listAllChannels(key)]
ok(sorted(labels) == ["base-x86", "child-one", "child-two", "other-arm"], "listAllChannels %r" % labels)
for ch in c.channel.listAllChannels(key):
    for f in ["id", "label", "name", "provider_name", "packages", "systems", "arch_name"]:
        ok(f in ch, "tree node field " + f)
sw = {ch["label"]: ch for ch in c.channel.listSoftwareChannels(key)}
ok(sw["child-one"]["parent_label"] == "base-x86", "listSoftwareChannels")
ok(c.channel.software.listAllPackages(key, "base-x86") == [], "packages")
ok(c.channel.software.listErrata(key, "base-x86") == [], "errata")
fault(lambda: c.channel.software.delete(key, "nope"), -210, "No such channel: nope")
ok(c.channel.software.delete(key, "other-arm") == 1, "delete")
fault(lambda: c.channel.software.getDetails(key, "other-arm"), -210, "No such channel")

# activation keys
k1 = c.activationkey.create(key, "web", "Web servers", "base-x86", 10, [], False)
ok(k1 == "1-web", "key prefix " + k1)
k2 = c.activationkey.create(key, "", "Random", "", [], True)  # 5-param overload, random key
ok(k2.startswith("1-") and len(k2) > 5, "random key " + k2)
fault(lambda: c.activationkey.create(key, "web", "again", "", [], False), 1090, "")
keys = {k["key"]: k for k in c.activationkey.listActivationKeys(key)}
ok(set(keys) == {k1, k2}, "listActivationKeys %r" % list(keys))
ok(keys[k1]["base_channel_label"] == "base-x86" and keys[k1]["usage_limit"] == 10, "key details")
ok(keys[k2]["base_channel_label"] == "none" and keys[k2]["universal_default"] is True, "key2 details")
for f in ["key", "description", "usage_limit", "base_channel_label", "child_channel_labels", "entitlements",
          "server_group_ids", "package_names", "packages", "universal_default", "disabled", "contact_method"]:
    ok(f in keys[k1], "key field " + f)
ok(c.activationkey.setDetails(key, k1, {"description": "Changed", "base_channel_label": ""}) == 1, "key setDetails")
ok(c.activationkey.getDetails(key, k1)["description"] == "Changed", "key changed")
ok(c.activationkey.getDetails(key, k1)["base_channel_label"] == "none", "key base removed")
ok(c.activationkey.delete(key, k1) == 1, "key delete")
fault(lambda: c.activationkey.getDetails(key, k1), 10001, "")

# groups
g = c.systemgroup.create(key, "web", "Web servers")
ok(g["name"] == "web" and g["system_count"] == 0 and "org_id" in g and "id" in g, "group %r" % g)
ok([x["name"] for x in c.systemgroup.listAllGroups(key)] == ["web"], "listAllGroups")
ok(c.systemgroup.update(key, "web", "Changed")["description"] == "Changed", "group update")
ok(c.systemgroup.getDetails(key, g["id"])["name"] == "web", "group by id")
fault(lambda: c.systemgroup.getDetails(key, "nope"), 2201, "nope")

# CLM
p = c.contentmanagement.createProject(key, "proj", "Project", "desc")
ok(p["label"] == "proj" and p["name"] == "Project", "project %r" % p)
fault(lambda: c.contentmanagement.createProject(key, "proj", "Project", "desc"), 10100, "")
ok(c.contentmanagement.updateProject(key, "proj", {"name": "Renamed"})["name"] == "Renamed", "updateProject")
c.contentmanagement.createEnvironment(key, "proj", "", "dev", "Dev", "")
c.contentmanagement.createEnvironment(key, "proj", "dev", "prod", "Prod", "")
c.contentmanagement.createEnvironment(key, "proj", "dev", "test", "Test", "")
envs = [e["label"] for e in c.contentmanagement.listProjectEnvironments(key, "proj")]
ok(envs == ["dev", "test", "prod"], "environment order %r" % envs)
e = c.contentmanagement.lookupEnvironment(key, "proj", "test")
ok(e["previousEnvironmentLabel"] == "dev" and e["nextEnvironmentLabel"] == "prod", "env links %r" % e)
ok(c.contentmanagement.removeEnvironment(key, "proj", "test") == 1, "removeEnvironment")
envs = [e["label"] for e in c.contentmanagement.listProjectEnvironments(key, "proj")]
ok(envs == ["dev", "prod"], "after remove %r" % envs)
ok([x["label"] for x in c.contentmanagement.listProjects(key)] == ["proj"], "listProjects")
ok(c.contentmanagement.removeProject(key, "proj") == 1, "removeProject")
fault(lambda: c.contentmanagement.lookupProject(key, "proj"), 10101, "proj")

# salt keys: pending -> accept -> system -> delete
req = urllib.request.Request(base + "/standin/minions", data=json.dumps(
    {"minion_id": "minion1.example.com", "fingerprint": "ab:cd"}).encode(), method="POST",
    headers={"Content-Type": "application/json"})
ok(json.load(urllib.request.urlopen(req))["added"] is True, "hook")
ok(c.saltkey.pendingList(key) == ["minion1.example.com"], "pending")
fault(lambda: c.saltkey.accept(key, "nobody"), -1, "Key for minionID [nobody] is not pending")
ok(c.saltkey.accept(key, "minion1.example.com") == 1, "accept")
ok(c.saltkey.acceptedList(key) == ["minion1.example.com"] and c.saltkey.pendingList(key) == [], "accepted")
systems = c.system.listSystems(key)
ok(len(systems) == 1 and systems[0]["name"] == "minion1.example.com", "listSystems %r" % systems)
s = systems[0]
ok(s["id"] >= 1000010000 and isinstance(s["last_checkin"], xc.DateTime), "system overview %r" % s)
sid = s["id"]
det = c.system.getDetails(key, sid)
for f in ["id", "profile_name", "hostname", "base_entitlement", "addon_entitlements", "auto_update", "description",
          "address1", "address2", "city", "state", "country", "building", "room", "rack", "release", "last_boot",
          "osa_status", "lock_status", "contact_method"]:
    ok(f in det, "server field " + f)
ok(det["hostname"] == "minion1.example.com" and det["minion_id"] == "minion1.example.com", "details")
ok(c.system.getName(key, sid)["name"] == "minion1.example.com", "getName")
ok([x["id"] for x in c.system.getId(key, "minion1.example.com")] == [sid], "getId")
ok(c.system.getMinionIdMap(key) == {"minion1.example.com": sid}, "minion map")
ok(isinstance(c.system.getRegistrationDate(key, sid), xc.DateTime), "registration date")
ok(c.system.getNetwork(key, sid)["hostname"] == "minion1.example.com", "network")
ok(c.system.getEntitlements(key, sid) == ["salt_entitled"], "entitlements")
ok(c.system.getSubscribedBaseChannel(key, sid) == {}, "no base channel")
ok(c.system.listSubscribedChildChannels(key, sid) == [], "no children")
ok(isinstance(c.system.getUuid(key, sid), str), "uuid")
ok(c.systemgroup.addOrRemoveSystems(key, "web", [sid], True) == 1, "add to group")
ok([x["profile_name"] for x in c.systemgroup.listSystems(key, "web")] == ["minion1.example.com"], "group members")
lg = c.system.listGroups(key, sid)
ok(lg[0]["system_group_name"] == "web" and lg[0]["subscribed"] == 1, "listGroups %r" % lg)
ok([x["id"] for x in c.system.search.hostname(key, "minion1")] == [sid], "search hostname")
ok([x["id"] for x in c.system.search.nameAndDescription(key, "minion1")] == [sid], "search name")
# actions (rhnAction / rhnServerAction): done at once; a script with "exit 1" fails
when = xc.DateTime("20250101T00:00:00")
reboot = c.system.scheduleReboot(key, sid, when)
ok(isinstance(reboot, int) and reboot >= 1, "reboot action %r" % reboot)
run = c.system.scheduleScriptRun(key, [sid], "root", "root", 60, "echo hi", when)
bad = c.system.scheduleScriptRun(key, "labelled", [sid], "root", "root", 60, "exit 1", when)
ok(len({reboot, run, bad}) == 3, "three actions")
ok(c.system.schedulePackageInstall(key, [sid], [1], when) > bad, "package install")
ok(len(c.system.scheduleApplyErrata(key, [sid], [1])) == 1, "errata: one action per system")
listed = {a["id"]: a for a in c.schedule.listAllActions(key)}
ok(set(listed) >= {reboot, run, bad}, "listAllActions %r" % listed)
ok(listed[reboot]["name"] and listed[reboot]["completedSystems"] == 1, "counts %r" % listed[reboot])
ok(isinstance(listed[reboot]["earliest"], xc.DateTime), "earliest is a DateTime")
ok([a["id"] for a in c.schedule.listFailedActions(key)] == [bad], "failed")
ok(c.schedule.listInProgressActions(key) == [], "nothing in progress")
done_ = c.schedule.listCompletedSystems(key, reboot)
ok([(x["server_id"], x["server_name"]) for x in done_] == [(sid, "minion1.example.com")], "completed %r" % done_)
ok([x["server_id"] for x in c.schedule.listFailedSystems(key, bad)] == [sid], "failed systems")
res = c.system.getScriptResults(key, run)
ok(res[0]["serverId"] == sid and res[0]["returnCode"] == 0 and "echo hi" in res[0]["output"], "results %r" % res)
ok(c.system.getScriptResults(key, reboot) == [], "not a script")
fault(lambda: c.schedule.listCompletedSystems(key, 999999), 2700, "No such action")
ok(c.schedule.rescheduleActions(key, [bad], True) == 1, "reschedule")
ok(c.schedule.listFailedActions(key) == [], "rescheduled and completed")
ok(c.schedule.failSystemAction(key, sid, reboot, "by hand") == 1, "failSystemAction")
ok(c.schedule.listFailedSystems(key, reboot)[0]["message"] == "by hand", "failed by hand")
ev = c.system.getEventHistory(key, sid)
ok(len(ev) >= 5 and ev[0]["id"] > ev[-1]["id"], "event history newest first %r" % ev)
ok(c.system.getEventDetails(key, sid, reboot)["id"] == reboot, "event details")
ok([e["id"] for e in c.system.listSystemEvents(key, sid, "System reboot")] == [reboot], "listSystemEvents")
ok(c.schedule.archiveActions(key, [reboot]) == 1, "archive")
ok([a["id"] for a in c.schedule.listArchivedActions(key)] == [reboot], "archived")
ok(c.schedule.deleteActions(key, [reboot]) == 1, "delete")
ok(reboot not in [a["id"] for a in c.schedule.listAllActions(key) + c.schedule.listArchivedActions(key)], "deleted")
ok(c.system.setCustomValues(key, sid, {"rack": "r1"}) == 1 and c.system.getCustomValues(key, sid) == {"rack": "r1"}, "custom")
ok(c.system.deleteCustomValues(key, sid, ["rack"]) == 1 and c.system.getCustomValues(key, sid) == {}, "custom deleted")
ok(c.system.deleteSystem(key, sid) == 1, "deleteSystem")
ok(c.system.listSystems(key) == [], "system gone")
ok(c.saltkey.acceptedList(key) == [], "key gone with the system")
fault(lambda: c.system.getDetails(key, sid), -208, "No such system - sid = %d" % sid)
ok(c.systemgroup.delete(key, "web") == 1, "group delete")
ok(c.systemgroup.listAllGroups(key) == [], "groups empty")

# reject / delete of keys, deleteSystems
for m in ["m2", "m3", "m4"]:
    urllib.request.urlopen(urllib.request.Request(base + "/standin/minions", data=json.dumps(
        {"minion_id": m, "fingerprint": "x"}).encode(), method="POST"))
ok(c.saltkey.reject(key, "m2") == 1 and c.saltkey.rejectedList(key) == ["m2"], "reject")
ok(c.saltkey.deniedList(key) == [], "denied")
ok(c.saltkey.delete(key, "m2") == 1 and c.saltkey.rejectedList(key) == [], "delete key")
c.saltkey.accept(key, "m3")
c.saltkey.accept(key, "m4")
ids = [x["id"] for x in c.system.listSystems(key)]
ok(len(ids) == 2 and len(set(ids)) == 2, "two systems")
ok(c.saltkey.delete(key, "m3") == 1, "delete accepted key")
ok(len(c.system.listSystems(key)) == 1, "saltkey.delete removed the system")
ok(c.system.deleteSystems(key, [x["id"] for x in c.system.listSystems(key)]) == 1, "deleteSystems")
ok(c.system.listSystems(key) == [], "all gone")
fault(lambda: c.saltkey.delete(key, "m3"), -1, "No key found")

# logout: the key is forgotten
ok(c.auth.logout(key3) == 1, "logout")
fault(lambda: c.system.listSystems(key3), -1, "Could not find session")

calls = json.load(urllib.request.urlopen(base + "/standin/calls"))
ok(calls.get("auth.login", 0) >= 3 and calls.get("system.listSystems", 0) >= 5, "audit %r" % calls)
done()

"""The stand-in's JSON over HTTP API with urllib. Usage: standin_json.py BASE"""
import json
import sys
import urllib.error
import urllib.request

from checks import done, ok

base = sys.argv[1] + "/rhn/manager/api/"


def call(path, body=None, cookie=None, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data else "GET"))
    req.add_header("Content-Type", "application/json")
    if cookie:
        req.add_header("Cookie", "pxt-session-cookie=" + cookie)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text.decode()
        return e.code, e.headers, parsed

st, _, body = call("api/getVersion")
ok(st == 200 and body["success"] and float(body["result"]) >= 25, "getVersion %r" % body)
st, _, body = call("auth/login", {"login": "admin", "password": "bad"})
ok(st == 401 and body["success"] is False, "bad login %r" % st)
st, headers, body = call("auth/login", {"login": "admin", "password": "admin"})
ok(st == 200 and body == {"success": True}, "login")
cookie = headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
st, _, body = call("channel/listAllChannels")
ok(st == 401, "no cookie: %r" % st)
st, _, body = call("channel/listAllChannels", cookie="1x" + "0" * 64)
ok(st == 401, "bad cookie: %r" % st)
st, _, body = call("channel/listAllChannels", cookie=cookie)
ok(st == 200 and body == {"success": True, "result": []}, "empty list %r" % body)
st, _, body = call("channel/software/create", {"label": "json-chan", "name": "JSON Channel", "summary": "s",
                                              "archLabel": "channel-x86_64", "parentLabel": ""}, cookie)
ok(st == 200 and body == {"success": True, "result": 1}, "create %r" % body)
st, _, body = call("channel/software/getDetails?channelLabel=json-chan", cookie=cookie)
ok(st == 200 and body["result"]["label"] == "json-chan" and body["result"]["arch_label"] == "channel-x86_64", "details %r" % body)
st, _, body = call("channel/software/getDetails?channelLabel=nope", cookie=cookie)
ok(st == 200 and body["success"] is False and "No such channel" in body["message"], "fault envelope %r" % body)
st, _, body = call("channel/software/getDetails?wrongName=json-chan", cookie=cookie)
ok(st == 400, "wrong parameter name: %r" % st)
st, _, body = call("channel/software/noSuchMethod", cookie=cookie)
ok(st == 400, "no such method: %r" % st)
st, _, body = call("channel/software/delete", {"channelLabel": "json-chan"}, cookie, method="GET")
ok(st == 400, "GET for a writing method: %r" % st)
st, _, body = call("systemgroup/create", {"name": "g1", "description": "d"}, cookie)
ok(st == 200 and body["result"]["name"] == "g1", "group %r" % body)
st, _, body = call("system/getDetails?sid=5", cookie=cookie)
ok(st == 200 and body["success"] is False and "No such system" in body["message"], "-208 %r" % body)
st, _, body = call("channel/software/delete", {"channelLabel": "json-chan"}, cookie)
ok(st == 200 and body["result"] == 1, "delete")
st, _, body = call("auth/logout", {}, cookie)
ok(st == 200, "logout")
st, _, body = call("channel/listAllChannels", cookie=cookie)
ok(st == 401, "after logout: %r" % st)
done()

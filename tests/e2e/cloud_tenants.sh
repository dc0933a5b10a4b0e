# One `otahil cloud` shared by two runs (docs/cloud.md, "Tenants"):
#   otahil cloud --quiet --transport all: every listener (HTTP and HTTPS, MQTT and mqtts, CoAP
#     and coaps), cloud.json naming them all with the CA, broker_pid and pid; nothing echoed.
#   GET /api/health -> 200 {"ok":true}.
#   POST /api/tenants for two devices, each with its own event log and firmware-server rules
#     (A: its 1st GET gets 503; B: none, a throttle); bad bodies get 400 naming the field.
#   POST /api/firmware owned by each, one with url_port/url_host: each tenant's GETs get its
#     own faults (A: 503 then 200; B: 200, 200), each tenant's events land only in its log
#     (seq 1..N in file order), the cloud's log has none of them.
#   POST /api/devices/offline: 200, 404 for an unknown device.
#   DELETE /api/tenants/PK/DN: 200 {"released":true}, 404 again; after it the firmware GETs of
#     A append nothing to A's log.
#   SIGTERM: the cloud and its broker are gone, cloud.json removed.
. "$(dirname "$0")/lib.bash"
cpid=
trap '[ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null; cleanup' EXIT

"$OTAHIL" image make --version app-2.0.0-20260101.1200 -o "$T/v2.ota.bin" >/dev/null || die "image make"
"$OTAHIL" cloud --quiet --transport all --workdir "$T/c" >"$T/cloud.out" 2>"$T/cloud.err" &
cpid=$!
for _ in $(seq 1 400); do [ -s "$T/c/cloud.json" ] && break; sleep 0.05; done
[ -s "$T/c/cloud.json" ] || { cat "$T/cloud.err"; die "otahil cloud --transport all did not start"; }

python3 - "$T" <<'PY' || die "tenants through the REST API"
import json, os, ssl, sys, urllib.request, urllib.error
t = sys.argv[1]
cj = json.load(open(t + "/c/cloud.json"))
for k in ("mqtt_port", "mqtts_port", "http_port", "https_port", "coap_port", "coaps_port",
          "ca", "broker_pid", "pid", "events"):
    assert k in cj, "cloud.json has no %s: %s" % (k, cj)
assert os.path.exists(cj["ca"]), cj["ca"]
os.kill(cj["broker_pid"], 0)
api = "http://127.0.0.1:%d" % cj["http_port"]

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def get(url, ctx=None):
    try:
        with urllib.request.urlopen(url, timeout=20, context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

assert call("GET", "/api/health") == (200, {"ok": True}), call("GET", "/api/health")

ev_a, ev_b = t + "/run-a.jsonl", t + "/run-b.jsonl"
st, r = call("POST", "/api/tenants", {
    "pk": "pkTenantA", "dn": "devA", "secret": "secretA", "events": ev_a, "seed": 7,
    "http": [{"label": "a-first", "nth": 1, "settings": {"status": "503"}}],
    "mqtt": {"settings": {"message": "busy right now"}}})
assert (st, r) == (201, {"pk": "pkTenantA", "dn": "devA"}), (st, r)
st, r = call("POST", "/api/tenants", {
    "pk": "pkTenantB", "dn": "devB", "secret": "secretB", "events": ev_b, "seed": 8,
    "throttle_bps": 10000000, "coap": {"settings": {"drop_block": "2"}}})
assert (st, r) == (201, {"pk": "pkTenantB", "dn": "devB"}), (st, r)

# bad bodies: 400 with the field named
for body, want in [
        ({"pk": "p", "dn": "d"}, "secret"),
        ({"pk": "p", "dn": "d", "secret": "s", "events": "rel/path"}, "events"),
        ({"pk": "p", "dn": "d", "secret": "s", "http": [{}, {"settings": {"stall_ms": "0"}}]},
         "http[1].settings.stall_ms"),
        ({"pk": "p", "dn": "d", "secret": "s", "http": [{"settings": {"stall_ms": "10"}}]},
         "http[0].settings.stall_ms"),
        ({"pk": "p", "dn": "d", "secret": "s", "mqtt": {"settings": {"restart_broker_at": "50"}}},
         "restart_broker_at"),
        ({"pk": "p", "dn": "d", "secret": "s", "coap": {"settings": {"drop_times": "2"}}},
         "coap.settings.drop_times"),
        ({"pk": "p", "dn": "d", "secret": "s", "color": "red"}, "color"),
        ({"pk": "p", "dn": "d", "secret": "s", "http": [{"settings": {}}] * 65}, "http")]:
    st, r = call("POST", "/api/tenants", body)
    assert st == 400 and want in r["error"] and "\n" not in r["error"], (body, st, r)

st, fa = call("POST", "/api/firmware", {"path": t + "/v2.ota.bin", "pk": "pkTenantA", "dn": "devA"})
assert st == 201 and fa["url"].startswith("http://127.0.0.1:%d/fw/" % cj["http_port"]), (st, fa)
st, fb = call("POST", "/api/firmware", {"path": t + "/v2.ota.bin", "pk": "pkTenantB", "dn": "devB",
                                        "url_port": 4567, "url_host": "10.0.2.2"})
assert st == 201 and fb["url"].startswith("http://10.0.2.2:4567/fw/"), (st, fb)
st, fh = call("POST", "/api/firmware", {"path": t + "/v2.ota.bin", "pk": "pkTenantB", "dn": "devB",
                                        "url_port": cj["https_port"]})
assert st == 201 and fh["url"].startswith("https://127.0.0.1:%d/" % cj["https_port"]), (st, fh)
st, r = call("POST", "/api/firmware", {"path": t + "/v2.ota.bin", "pk": "nobody", "dn": "x"})
assert st == 400 and "not a tenant" in r["error"], (st, r)
st, r = call("POST", "/api/firmware", {"path": t + "/v2.ota.bin", "url_port": 70000})
assert st == 400 and "url_port" in r["error"], (st, r)

path_a = "/fw/%d/" % fa["id"] + fa["url"].rsplit("/", 1)[1]
path_b = "/fw/%d/" % fb["id"] + fb["url"].rsplit("/", 1)[1]
size = os.path.getsize(t + "/v2.ota.bin")
sa1 = get(api + path_a)
sb1 = get(api + path_b)
sa2 = get(api + path_a)
sb2 = get(api + path_b)
assert sa1[0] == 503 and b"ServiceUnavailable" in sa1[1], sa1[0]
assert sa2[0] == 200 and len(sa2[1]) == size, sa2[0]
assert sb1[0] == 200 and sb2[0] == 200 and len(sb1[1]) == size, (sb1[0], sb2[0])
ctx = ssl.create_default_context(cafile=cj["ca"])
sh = get("https://127.0.0.1:%d" % cj["https_port"] + "/fw/%d/" % fh["id"] + fh["url"].rsplit("/", 1)[1], ctx)
assert sh[0] == 200 and len(sh[1]) == size, sh[0]

assert call("POST", "/api/devices/offline", {"pk": "pkTenantA", "dn": "devA"}) == \
    (200, {"pk": "pkTenantA", "dn": "devA"})
st, r = call("POST", "/api/devices/offline", {"pk": "nobody", "dn": "x"})
assert st == 404, (st, r)

def events(p):
    evs = [json.loads(l) for l in open(p) if l.strip()]
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1)), p + ": seq not 1..N"
    return evs

a, b, cloud = events(ev_a), events(ev_b), events(cj["events"])
names = lambda evs: [e["ev"] for e in evs]
assert names(a)[:2] == ["device.added", "firmware.added"], names(a)
assert [e["status"] for e in a if e["ev"] == "http.request"] == [503, 200], names(a)
assert [e["rule"] for e in a if e["ev"] == "http.fault"] == ["a-first"], names(a)
assert [e["status"] for e in b if e["ev"] == "http.request"] == [200, 200, 200], names(b)
assert not any(e["ev"] == "http.fault" for e in b), names(b)
for e in a + b:
    assert "pkTenantB" not in json.dumps(e) or e in b, e
    assert "pkTenantA" not in json.dumps(e) or e in a, e
assert not any(e["ev"] in ("http.request", "http.fault", "device.added", "firmware.added") and
               e.get("pk", "pkTenant").startswith("pkTenant") for e in cloud), names(cloud)
assert not any(("path" in e and e["path"] in (path_a, path_b)) for e in cloud), names(cloud)

st, r = call("DELETE", "/api/tenants/pkTenantA/devA")
assert (st, r) == (200, {"released": True}), (st, r)
st, r = call("DELETE", "/api/tenants/pkTenantA/devA")
assert st == 404, (st, r)
n = len(events(ev_a))
assert get(api + path_a)[0] == 200     # no fault any more,
assert len(events(ev_a)) == n          # and nothing appended to the run's log
assert any(e.get("path") == path_a for e in events(cj["events"]))
assert call("GET", "/api/health") == (200, {"ok": True})
print("tenants ok: A %d events, B %d events" % (len(a), len(b)))
PY

[ -s "$T/cloud.err" ] && { head -5 "$T/cloud.err"; die "--quiet: something was echoed on stderr"; }
bpid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["broker_pid"])' "$T/c/cloud.json")
kill "$cpid"; wait "$cpid" || die "otahil cloud exit status after SIGTERM"
cpid=
kill -0 "$bpid" 2>/dev/null && die "broker $bpid still running after the cloud stopped"
[ -e "$T/c/cloud.json" ] && die "cloud.json left behind"
echo "cloud_tenants: ok"

# One cloud for the whole certification: `otahil certify` starts one `otahil cloud` (one
# broker, one firmware server, one CoAP endpoint) and every run's device joins it as a
# tenant with a name of its own; the run with a broker restart gets a cloud of its own.
# Runs two at a time with cloud faults (an HTTP rule, a duplicated push), a transport
# fault and CoAP: each run's log holds its own device's events only, the cloud-side
# faults hit only their own run, and nothing is left running afterwards.
. "$(dirname "$0")/lib.bash"
ids=OTA-DL-001,OTA-DL-007,OTA-BRK-003,OTA-NET-001,OTA-NET-004,OTA-NET-006,OTA-DL-017
"$OTAHIL" certify --only "$ids" --seed 5 --jobs 2 --out "$T/c" >"$T/c.out" 2>&1 \
  || { cat "$T/c.out"; die "certify: exit $?"; }
cat "$T/c.out"
python3 - "$T/c" <<'PY' || die "the shared cloud"
import glob, json, os, sys
d = sys.argv[1]
r = json.load(open(d + "/results.json"))
cases = {(c["id"], c["transport"]): c for c in r["cases"]}
assert all(c["verdict"] == "PASS" for c in r["cases"]), [(c["id"], c["verdict"], c["reason"]) for c in r["cases"]]
assert r["cloud"].startswith("one cloud for the certification"), r["cloud"]
own = {c["id"]: c["cloud"] for c in r["cases"] if c["cloud"] and c["cloud"] != "shared"}
assert list(own) == ["OTA-NET-004"] and "restarts the broker" in own["OTA-NET-004"], own
shared = [c for c in r["cases"] if c["cloud"] == "shared"]
assert len(shared) == 9, [(c["id"], c["cloud"]) for c in r["cases"]]
# one cloud process, its broker started once
cloud_log = [json.loads(l) for l in open(d + "/cloud/events.jsonl")]
assert [e["ev"] for e in cloud_log].count("broker.started") == 1, "the shared broker started more than once"
for c in shared:
    log = [json.loads(l) for l in open(os.path.join(d, c["events"]))]
    dn = os.path.basename(os.path.dirname(c["events"])).replace("@", ".").replace("+", "-")
    dn = "dut-" + dn
    # the run joined the shared cloud and started no broker or cloud of its own
    assert any(e["ev"] == "run.cloud" and e.get("shared") is True for e in log), c["id"]
    assert not any(e["ev"] in ("broker.started", "cloud.started") for e in log), c["id"]
    # the cloud's events about the device are in the run's log, and only its own device's
    devs = {e["dn"] for e in log if e["src"] in ("cloud", "coap") and "dn" in e}
    assert devs == {dn}, (c["id"], devs)
    assert any(e["ev"] == "device.inform" for e in log), c["id"]
    seqs = [e["seq"] for e in log]
    assert seqs == list(range(1, len(seqs) + 1)), c["id"] + ": seq is not 1..N"
    # a cloud fault fired only in the run whose plan has it
    faults = [e for e in log if e["ev"] in ("http.fault", "cloud.fault")]
    if c["id"] in ("OTA-DL-007", "OTA-BRK-003", "OTA-NET-006"):
        assert faults, c["id"] + ": its cloud fault did not fire"
    else:
        assert not faults, (c["id"], faults)
    # nothing of the cloud's after the run's verdict: the tenant was released first
    v = max(i for i, e in enumerate(log) if e["ev"] == "run.verdict")
    assert not [e for e in log[v + 1:] if e["src"] in ("cloud", "http", "coap")], c["id"]
# the run with its own cloud started its own broker
net4 = cases[("OTA-NET-004", "mqtt+http")]
log = [json.loads(l) for l in open(os.path.join(d, net4["events"]))]
assert [e["ev"] for e in log].count("cloud.started") == 1
print("shared cloud: %d runs in one cloud, 1 with its own" % len(shared))
PY
# the summary says it, and the cloud process and its broker are gone
grep -q "^  cloud: one cloud for the certification" "$T/c.out" || die "the summary does not name the cloud"
pid=$(sed -n 's/^  cloud: .*(pid \([0-9]*\); broker pid \([0-9]*\),.*/\1/p' "$T/c.out")
bpid=$(sed -n 's/^  cloud: .*(pid \([0-9]*\); broker pid \([0-9]*\),.*/\2/p' "$T/c.out")
[ -n "$pid" ] && [ -n "$bpid" ] || die "no pids in the cloud line"
[ ! -e "$T/c/cloud/cloud.json" ] || die "the cloud left its cloud.json"
for p in $pid $bpid; do
  kill -0 "$p" 2>/dev/null && die "process $p of the shared cloud still runs"
done

# otahil run --cloud DIR: a run joins a running `otahil cloud` as a tenant
"$OTAHIL" cloud --workdir "$T/cl" --quiet --transport all >"$T/cl.out" 2>&1 &
cpid=$!
trap 'kill $cpid 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 300); do [ -s "$T/cl/cloud.json" ] && break; sleep 0.05; done
[ -s "$T/cl/cloud.json" ] || { cat "$T/cl.out"; die "otahil cloud did not start"; }
"$OTAHIL" run update --cloud "$T/cl" --transport https --seed 3 --out "$T/r" >"$T/r.out" 2>&1 \
  || { cat "$T/r.out"; die "otahil run --cloud: exit $?"; }
python3 - "$T/r/events.jsonl" "$T/cl/events.jsonl" <<'PY' || die "otahil run --cloud"
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
assert any(e["ev"] == "run.cloud" and e["shared"] for e in log)
assert not any(e["ev"] == "broker.started" for e in log)
assert any(e["ev"] == "job.succeeded" for e in log)
cl = [json.loads(l) for l in open(sys.argv[2])]
assert not any(e["ev"] in ("job.pushed", "device.inform") for e in cl), "tenant events in the cloud's log"
PY
"$OTAHIL" run update --cloud "$T/nowhere" --out "$T/r2" >"$T/r2.out" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--cloud: .*nowhere/cloud.json" "$T/r2.out" || { cat "$T/r2.out"; die "--cloud with no cloud: exit $rc"; }
kill "$cpid"; wait "$cpid" 2>/dev/null
exit 0

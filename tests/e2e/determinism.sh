# Same seed, same result: two certifications with one seed, over cases with faults on the
# wire, in the cloud and in the flash, give the same verdict and the same event sequence
# (results.json "events_digest": each component's events in order) for every case; a
# change of what a run does changes its digest.
. "$(dirname "$0")/lib.bash"
ids=OTA-DL-001,OTA-DL-005,OTA-DL-010,OTA-BRK-001,OTA-BRK-003,OTA-NET-001,OTA-NET-003,OTA-VER-001,OTA-INT-001,OTA-VER-005,OTA-PART-004
for i in 1 2; do
  "$OTAHIL" certify --only "$ids" --seed 7 --jobs 2 --out "$T/c$i" >"$T/c$i.out" 2>&1 \
    || { cat "$T/c$i.out"; die "certification $i: exit $?"; }
done
"$OTAHIL" certify --only OTA-DL-001 --seed 7 --port mut-wrong-version-after-reboot --out "$T/other" >/dev/null 2>&1
"$OTAHIL" certify --only OTA-DL-002 --seed 7 --out "$T/plan" >/dev/null 2>&1
python3 - "$T" <<'PY' || die "the two runs differ"
import json, sys
t = sys.argv[1]
a, b = (json.load(open("%s/c%d/results.json" % (t, i)))["cases"] for i in (1, 2))
assert [c["id"] for c in a] == [c["id"] for c in b]
for x, y in zip(a, b):
    assert x["verdict"] == y["verdict"], (x["id"], x["verdict"], y["verdict"])
    assert x["events_digest"] and len(x["events_digest"]) == 64, x
    assert x["events_digest"] == y["events_digest"], "%s: event sequences differ" % x["id"]
d = {c["id"]: c["events_digest"] for c in a}
plan = json.load(open(t + "/plan/results.json"))["cases"][0]["events_digest"]
assert plan not in d.values(), "another plan, the same digest"
other = json.load(open(t + "/other/results.json"))["cases"][0]
assert other["verdict"] == "FAIL" and other["events_digest"] != d["OTA-DL-001"], "another port, the same digest"
print("determinism: %d cases, the same verdicts and event sequences" % len(a))
PY
exit 0

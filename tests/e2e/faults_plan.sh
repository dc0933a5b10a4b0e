# A fault plan end to end: the firmware URL has expired at the first GET (400 with an object
# storage error body). The reference agent checks the status, reports a download failure and
# keeps v1. The plan expects exactly that (fail-clean), so the run is PASS, and its conformance
# checks say why. Then a plan the agent absorbs (the header block split byte by byte): PASS.
. "$(dirname "$0")/lib.bash"
plan=fixtures/faults/expired-url-400.plan
"$OTAHIL" run update --board native --plan "$plan" --out "$T/run" --reboot-delay-ms 200 --timeout 30 \
  >"$T/out" 2>&1; rc=$?
cat "$T/out"
[ "$rc" -eq 0 ] || die "exit $rc, expected 0 (PASS: the update failed cleanly)"
grep -q '^PASS update .*the update failed cleanly, as plan expired-url-400 expects (job FAILED' "$T/out" || die "no PASS line"
grep -q '^plan expired-url-400 (expects fail-clean): http:1 status=400; fail_step=-2$' "$T/out" || die "no plan line"
grep -q '^  PASS  fail-step  *step -2 reported, as profile g1 does' "$T/out" || die "no fail-step check"
grep -q '^  PASS  keeps-image ' "$T/out" || die "no keeps-image check"
grep -q '^  SKIP  writes-are-file  *nothing was written' "$T/out" || die "writes-are-file: not SKIP"
ev="$T/run/events.jsonl"
expect_events "$ev" plan.loaded job.pushed http.fault http.request agent.http_status device.progress job.failed run.verdict
python3 - "$ev" <<'PY' || die "event contents"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
def one(name):
    m = [e for e in evs if e["ev"] == name]
    assert len(m) == 1, "%d %s events" % (len(m), name)
    return m[0]
p = one("plan.loaded")
assert p["name"] == "expired-url-400" and p["expect"] == "fail-clean", p
assert p["http"] == ["http:1 status=400"] and p["summary"] == "http:1 status=400; fail_step=-2", p
assert "iotkit-embedded#103" in p["field"], p["field"]
f = one("http.fault")
assert (f["rule"], f["request"], f["fault"]) == ("http:1", 1, "status"), f
assert f["did"].startswith("answered 400 Bad Request with a "), f
assert one("http.request")["status"] == 400
assert one("agent.http_status")["status"] == 400
assert [e["step"] for e in evs if e["ev"] == "device.progress" and e["step"] < 0] == [-2]
# the run waited for the reboot that follows the failure: the old image came back
assert [e["version"] for e in evs if e["ev"] == "boot.image"] == ["app-1.0.0-20180101.1000"] * 2
assert not [e for e in evs if e["ev"] == "port.set_boot" and e.get("result_type") == "FINISH"], "boot switch"
v = one("run.verdict")
assert (v["verdict"], v["plan"], v["plan_expect"]) == ("PASS", "expired-url-400", "fail-clean"), v
checks = {e["id"]: e["verdict"] for e in evs if e["ev"] == "check"}
assert checks == {"writes-are-file": "SKIP", "resume-range": "PASS", "finish-after-whole-file": "SKIP",
                  "record-crc": "SKIP", "single-download": "PASS", "fail-step": "PASS",
                  "version-reported": "PASS", "progress-reported": "SKIP", "boot-confirmed": "SKIP",
                  "keeps-image": "PASS", "settings-kept": "PASS"}, checks
PY
"$OTAHIL" flash info "$T/run/flash.bin" --board native >"$T/info" || die "flash info"
grep -Eq '^APPLICATION .*image app-1\.0\.0-20180101\.1000.*<- boots' "$T/info" || { cat "$T/info"; die "APPLICATION does not boot v1"; }
grep -q '^violations 0' "$T/info" || die "flash violations"

"$OTAHIL" run update --board native --plan fixtures/faults/headers-split.plan --out "$T/run2" \
  --reboot-delay-ms 200 --timeout 30 >"$T/out2" 2>&1 || { cat "$T/out2"; die "headers-split: not PASS"; }
grep -q '^PASS update' "$T/out2" || die "headers-split: no PASS line"
grep -q '"fault":"split_headers"' "$T/run2/events.jsonl" || die "headers-split: no http.fault"
exit 0

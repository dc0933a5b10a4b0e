# make certify's job: the catalogue against the reference port on the default board, with
# its reports; --quick leaves out the slow cases (SKIP with the reason).
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
"$OTAHIL" certify --out "$T/c" --quick --jobs 2 >"$T/out" 2>&1 || { cat "$T/out"; die "certify failed"; }
grep -q "report: $T/c/report.html" "$T/out" || die "no report path"
for f in report.html junit.xml results.json summary.txt; do [ -s "$T/c/$f" ] || die "no $f"; done
s="$T/c/summary.txt"
grep -q '^PASS  OTA-DL-001 ' "$s" || die "OTA-DL-001 not PASS"
grep -q '^SKIP  OTA-RB-001 .*needs a pingpong bootloader' "$s" || die "OTA-RB-001 not SKIP on a copy board"
grep -q '^SKIP  OTA-NET-009 .*left out by --quick' "$s" || die "slow case not SKIP under --quick"
# every catalogue case has its line, and none failed; the transport matrix adds a row per
# case and other transport ("[coap+coap] title"), all four transports claimed by the reference
n=$("$OTAHIL" catalogue | wc -l)
[ "$(grep -E '^(PASS|SKIP) ' "$s" | grep -vc ' s  \[')" -eq "$n" ] || { cat "$s"; die "not every case PASS or SKIP"; }
[ "$(grep -cE '^(PASS|SKIP|FAIL|ERROR) ' "$s")" -eq "$(grep -cE '^(PASS|SKIP) ' "$s")" ] || die "a matrix row failed"
for t in mqtt+https coap+http coap+coap; do
  grep -q "^PASS  OTA-DL-001 .*\[$t\] " "$s" || die "OTA-DL-001 over $t: not PASS"
done
grep -q 'Transport matrix' "$T/c/report.html" || die "report.html has no transport matrix"
grep -q "certified$" "$s" || die "status not certified"
# the JSON and JUnit reports agree with the summary
python3 - "$T/c" "$n" <<'PY' || die "reports"
import json, sys, xml.etree.ElementTree as ET
d, n = sys.argv[1], int(sys.argv[2])
r = json.load(open(d + "/results.json"))
assert len([c for c in r["cases"] if not c["matrix"]]) == n, len(r["cases"])
m = [c for c in r["cases"] if c["matrix"]]
assert len(m) == 12 and {c["transport"] for c in m} == {"mqtt+https", "coap+http", "coap+coap"}, m
n += len(m)
assert all(c["verdict"] in ("PASS", "SKIP") for c in r["cases"])
t = ET.parse(d + "/junit.xml").getroot()
cases = t.findall(".//testcase")
assert len(cases) == n, len(cases)
assert not t.findall(".//failure") and not t.findall(".//error")
PY
# each run kept its event log, with the checks in it
grep -q '"ev":"check","id":"resume-range","verdict":"PASS"' "$T/c/runs/OTA-BRK-001/events.jsonl" \
  || die "OTA-BRK-001: no check events"
# a known-bad variant fails, naming the case that caught it, with a repro folder
"$OTAHIL" certify --out "$T/bad" --quick --jobs 2 --port agent-ignores-status >"$T/bad.out" 2>&1; rc=$?
[ "$rc" -eq 1 ] || { cat "$T/bad.out"; die "agent-ignores-status: certify exit $rc, expected 1"; }
grep -q '^FAIL  OTA-DL-014 ' "$T/bad/summary.txt" || { cat "$T/bad/summary.txt"; die "OTA-DL-014 not FAIL"; }
grep -q 'not certified$' "$T/bad/summary.txt" || die "status"
[ -s "$T/bad/repro/OTA-DL-002/repro.ini" ] && [ -s "$T/bad/repro/OTA-DL-002/flash-before.bin" ] \
  && [ -s "$T/bad/repro/OTA-DL-002/flash-after.bin" ] && [ -s "$T/bad/repro/OTA-DL-002/events.jsonl" ] \
  && [ -x "$T/bad/repro/OTA-DL-002/command.sh" ] || die "repro folder incomplete"
echo "certify: reference certified ($n cases), agent-ignores-status caught"

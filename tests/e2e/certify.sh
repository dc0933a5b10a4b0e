# make certify's job: every case and every scenario on the default board, with a summary.
# --quick leaves out the slow scenarios (slow = true: the long stalls); --jobs 2 runs two at once.
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
"$OTAHIL" certify --board native --out "$T/c" --reboot-delay-ms 200 --quick --jobs 2 | tee "$T/out" \
  || die "certify failed"
grep -q "report: $T/c/summary.txt" "$T/out" || die "no report path"
s="$T/c/summary.txt"
grep -q '^PASS  update ' "$s" || die "update not PASS"
grep -q '^PASS  version-same ' "$s" || die "version-same not PASS"
grep -q '^SKIP  rollback ' "$s" || die "rollback not SKIP on a copy board"
# every scenario that is not slow has its line, PASS
n=0
for p in "$root"/fixtures/faults/*.plan; do
  name=$(basename "$p" .plan)
  if grep -q '^slow *= *true' "$p"; then
    grep -q "^[A-Z]* *$name " "$s" && die "$name is slow but ran under --quick"
    continue
  fi
  grep -q "^PASS  $name " "$s" || { grep "$name" "$s"; die "$name: not PASS"; }
  n=$((n + 1))
done
[ "$n" -ge 30 ] || die "only $n scenarios"
grep -q "^$((n + 3)) cases and scenarios: $((n + 3)) passed or skipped, 0 failed, 0 errors$" "$s" \
  || { tail -n 1 "$s"; die "summary count"; }
# each run kept its event log, with the checks in it
grep -q '"ev":"check","id":"resume-range","verdict":"PASS"' "$T/c/resume-after-drop/events.jsonl" \
  || die "resume-after-drop: no check events"
# a known-bad variant fails the certification, naming the scenario that caught it
"$OTAHIL" certify --board native --out "$T/bad" --reboot-delay-ms 200 --quick --jobs 2 \
  --port agent-ignores-status >"$T/bad.out" 2>&1; rc=$?
[ "$rc" -eq 1 ] || { cat "$T/bad.out"; die "agent-ignores-status: certify exit $rc, expected 1"; }
grep -q '^FAIL  expired-url-400 .*check writes-are-file' "$T/bad/summary.txt" \
  || { cat "$T/bad/summary.txt"; die "agent-ignores-status: expired-url-400 not caught"; }

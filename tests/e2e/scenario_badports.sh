# Every known-bad variant a fault scenario catches (fixtures/ports/*.patch with a
# "Scenario: NAME" and a "Check: ID" header, docs/fixtures.md): `otahil run NAME --port VARIANT`
# is FAIL (exit 1) with that conformance check failing, and the same scenario on the reference
# port is PASS. So each scenario is shown to catch the field failure it reproduces.
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
header() {
  awk -v k="$2: " '/^---/ { exit } index($0, k) == 1 { print substr($0, length(k) + 1) }' "$1"
}
n=0
for p in "$root"/fixtures/ports/*.patch; do
  scen=$(header "$p" Scenario)
  [ -n "$scen" ] || continue
  name=$(basename "$p" .patch)
  check=$(header "$p" Check)
  [ -n "$check" ] || die "$name: a Scenario fixture needs a 'Check: ID' line"
  "$OTAHIL" run "$scen" --port "$name" --out "$T/$name" --reboot-delay-ms 100 --timeout 60 \
    >"$T/$name.out" 2>&1; rc=$?
  [ "$rc" -eq 1 ] || { cat "$T/$name.out"; die "$name: $scen exit $rc, expected 1 (FAIL)"; }
  grep -q "^FAIL $scen (.*port $name)" "$T/$name.out" || { cat "$T/$name.out"; die "$name: no FAIL line"; }
  grep -q "^  FAIL  $check " "$T/$name.out" || { cat "$T/$name.out"; die "$name: check $check did not fail"; }
  "$OTAHIL" run "$scen" --out "$T/$name.ref" --reboot-delay-ms 100 --timeout 60 >"$T/$name.ref.out" 2>&1 \
    || { cat "$T/$name.ref.out"; die "$name: $scen is not PASS on the reference port"; }
  n=$((n + 1))
done
[ "$n" -gt 0 ] || die "no fixture names a scenario"
# the same variant fails another scenario's check: a 200 answer to a Range request appended
"$OTAHIL" run ignore-range-200 --port agent-ignores-status --out "$T/range" --reboot-delay-ms 100 \
  >"$T/range.out" 2>&1; rc=$?
[ "$rc" -eq 1 ] && grep -q '^  FAIL  writes-are-file .*at offset [1-9]' "$T/range.out" \
  || { cat "$T/range.out"; die "ignore-range-200: the appended file not caught"; }
# an unknown variant is a harness error naming it
"$OTAHIL" run update --port no-such-port --out "$T/none" >"$T/none.out" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q 'port no-such-port: no device build' "$T/none.out" \
  || { cat "$T/none.out"; die "unknown --port: exit $rc"; }
echo "$n scenario fixture(s) caught"

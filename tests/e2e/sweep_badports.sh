# Every known-bad port (fixtures/ports/*.patch, docs/fixtures.md) with a Sweep line fails the
# invariant its header names on its own sweep line, while the reference port
# passes that line; the memo and the way points run (in process or forked)
# change no failure; its first printed replay command, run twice, gives the
# same FAIL line. OTAHIL_FIXTURES overrides the folder of patches.
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(dirname "$OTAHIL")
fixdir=${OTAHIL_FIXTURES:-$root/fixtures/ports}
shopt -s nullglob
patches=("$fixdir"/*.patch)
[ ${#patches[@]} -gt 0 ] || die "no fixtures in $fixdir"

# header FILE KEY: the value of "KEY: ..." in the text before the first ---
header() {
  awk -v k="$2: " '/^---/ { exit } index($0, k) == 1 { print substr($0, length(k) + 1) }' "$1"
}

bad=0
for p in "${patches[@]}"; do
  name=$(basename "$p" .patch)
  # a fixture a scenario catches (Scenario: header) is tests/e2e/scenario_badports.sh's, and a
  # protocol mutant (Caught-by: header) tests/e2e/mutants.sh's: neither is a power-cut bug
  [ -n "$(header "$p" Scenario)" ] && [ -z "$(header "$p" Sweep)" ] && continue
  [ -n "$(header "$p" Caught-by)" ] && [ -z "$(header "$p" Sweep)" ] && continue
  expect=$(header "$p" Expect)
  sweep=$(header "$p" Sweep)
  if [ -z "$expect" ] || [ -z "$sweep" ] || [ "$(wc -w <<<"$expect")" -ne 1 ] ||
     [ "$(header "$p" Expect | wc -l)" -ne 1 ] || [ "$(header "$p" Sweep | wc -l)" -ne 1 ]; then
    echo "FAIL $name: the header needs one 'Expect: INVARIANT' and one 'Sweep: ...' line"; bad=1; continue
  fi
  if [ ! -e "$BIN/../fw/$name.so" ]; then
    echo "FAIL $name: $BIN/../fw/$name.so is not built (make, or make unit for build/san)"; bad=1; continue
  fi
  read -ra args <<<"$sweep"
  "$OTAHIL" sweep --port "$name" "${args[@]}" --expect "$expect" --quiet >"$T/$name.out" 2>&1; rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $name: expected $expect on '$sweep', exit $rc"; sed 's/^/     | /' "$T/$name.out" | head -n 12; bad=1; continue
  fi
  points=$(sed -n 's/.* \([0-9]*\) cut points checked.*/\1/p' "$T/$name.out")
  caught=$(sed -n 's/^expected: invariant .* failed at \([0-9]*\) point.*/\1/p' "$T/$name.out")
  secs=$(sed -n 's/.* failed (\([0-9.]* s\),.*/\1/p' "$T/$name.out")
  # the memo never changes a verdict: every recovery run in full gives the same failures;
  # nor does the way points run: in forked children as in process from a snapshot
  "$OTAHIL" sweep --port "$name" "${args[@]}" >"$T/$name.all" 2>&1
  "$OTAHIL" sweep --port "$name" "${args[@]}" --no-memo >"$T/$name.full" 2>&1
  "$OTAHIL" sweep --port "$name" "${args[@]}" --fork >"$T/$name.fork" 2>&1
  if [ "$(grep -A1 '^FAIL at ' "$T/$name.full")" != "$(grep -A1 '^FAIL at ' "$T/$name.all")" ]; then
    echo "FAIL $name: --no-memo gives other failures than the memo"; bad=1; continue
  fi
  if [ "$(grep -A1 '^FAIL at ' "$T/$name.fork")" != "$(grep -A1 '^FAIL at ' "$T/$name.all")" ]; then
    echo "FAIL $name: --fork gives other failures than points run in process"; bad=1; continue
  fi
  # control: the reference port holds every invariant on the same line
  "$OTAHIL" sweep --port reference "${args[@]}" --quiet >"$T/$name.ref" 2>&1; rrc=$?
  if [ "$rrc" -ne 0 ]; then
    echo "FAIL $name: the reference port fails its sweep line (exit $rrc)"; sed 's/^/     | /' "$T/$name.ref" | head -n 12; bad=1; continue
  fi
  # replay: the first failure of the expected invariant, twice, the same FAIL line
  line=$(grep -m1 "^FAIL at .*\[$expect\]$" "$T/$name.out")
  [ -n "$line" ] || line=$(grep -m1 '^FAIL at ' "$T/$name.out")
  replay=$(grep -A1 -Fx -- "$line" "$T/$name.out" | sed -n 's/^  replay: otahil //p' | head -n 1)
  if [ -z "$replay" ]; then
    echo "FAIL $name: no replay command printed"; bad=1; continue
  fi
  read -ra rargs <<<"$replay"
  r1=$("$OTAHIL" "${rargs[@]}" 2>&1 | grep '^FAIL at ')
  r2=$("$OTAHIL" "${rargs[@]}" 2>&1 | grep '^FAIL at ')
  if [ "$r1" != "$line" ] || [ "$r2" != "$line" ]; then
    echo "FAIL $name: replay '$replay' does not reproduce"; echo "     sweep:  $line"
    echo "     replay: $r1"; echo "     again:  $r2"; bad=1; continue
  fi
  echo "ok   $name: $expect at $caught of $points points ($secs); reference holds; replay --point ${replay##*--point } reproduces"
done
[ "$bad" -eq 0 ] || die "a known-bad port was not caught as its header says"
exit 0

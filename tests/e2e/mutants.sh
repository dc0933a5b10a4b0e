# The protocol mutants (fixtures/ports/*.patch with a "Caught-by:" header, docs/fixtures.md,
# "Protocol mutants"): each is run on every item its header names, `otahil run ITEM --port NAME`
# (ITEM is a case or a scenario, ITEM@BOARD on another board than native). Each run must be FAIL
# (exit 1), and its verdict line or one of its failing checks must match the header's "Cause:"
# (an extended regular expression), so a mutant is caught for the reason it models, not by any
# failure. Every item is also run once on the reference port, which must PASS it. Prints the
# mutation score (mutants caught / mutants) and what caught each. Two runs at a time.
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
fixdir=${OTAHIL_FIXTURES:-$root/fixtures/ports}
header() {
  awk -v k="$2: " '/^---/ { exit } index($0, k) == 1 { print substr($0, length(k) + 1) }' "$1"
}
# start KEY PORT ITEM: one run in the background, at most two at once
start() {
  local key=$1 port=$2 item=$3 case=${3%@*} board=native
  [ "$item" != "$case" ] && board=${item#*@}
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
  ( "$OTAHIL" run "$case" --board "$board" --port "$port" --out "$T/$key" --reboot-delay-ms 100 \
      --timeout 40 >"$T/$key.out" 2>&1; echo $? >"$T/$key.rc" ) &
}
key() { echo "$1.$2" | tr '@/' '__'; }

shopt -s nullglob
mutants=() items=()
for p in "$fixdir"/*.patch; do
  [ -n "$(header "$p" Caught-by)" ] || continue
  name=$(basename "$p" .patch)
  for k in Bug Field Caught-by Cause; do
    [ "$(header "$p" "$k" | wc -l)" -eq 1 ] || die "$name: the header needs one '$k:' line"
  done
  mutants+=("$name")
  IFS=', ' read -ra its <<<"$(header "$p" Caught-by)"
  for it in "${its[@]}"; do
    [ -n "$it" ] || continue
    start "$(key "$name" "$it")" "$name" "$it"
    [[ " ${items[*]} " == *" $it "* ]] || items+=("$it")
  done
done
[ ${#mutants[@]} -ge 10 ] || die "only ${#mutants[@]} protocol mutants in $fixdir"
for it in "${items[@]}"; do start "$(key reference "$it")" reference "$it"; done
wait

bad=0 caught=0
for it in "${items[@]}"; do
  k=$(key reference "$it")
  if [ "$(cat "$T/$k.rc")" != 0 ] || ! grep -q '^PASS ' "$T/$k.out"; then
    echo "FAIL reference: $it is not PASS"; sed 's/^/     | /' "$T/$k.out"; bad=1
  fi
done
for name in "${mutants[@]}"; do
  p=$fixdir/$name.patch
  cause=$(header "$p" Cause)
  IFS=', ' read -ra its <<<"$(header "$p" Caught-by)"
  by=() ok=1
  for it in "${its[@]}"; do
    [ -n "$it" ] || continue
    k=$(key "$name" "$it")
    rc=$(cat "$T/$k.rc")
    verdict=$(grep -m1 -E '^(PASS|FAIL|ERROR|SKIP) ' "$T/$k.out")
    if [ "$rc" != 1 ] || [[ "$verdict" != FAIL\ * ]]; then
      echo "FAIL $name: $it exit $rc, expected 1 (FAIL)"; sed 's/^/     | /' "$T/$k.out"; ok=0; continue
    fi
    if grep -m1 -qE -- "$cause" <<<"$verdict"; then
      id=$(sed -n 's/^FAIL [^:]*: check \([a-z-]*\): .*/\1/p' <<<"$verdict")
      by+=("$it (${id:-verdict})")
    elif line=$(grep -E '^  FAIL  ' "$T/$k.out" | grep -m1 -E -- "$cause"); then
      by+=("$it ($(awk '{ print $2 }' <<<"$line"))")
    else
      echo "FAIL $name: $it failed, but not for the cause '$cause'"; sed 's/^/     | /' "$T/$k.out"; ok=0
    fi
  done
  if [ "$ok" -eq 1 ] && [ ${#by[@]} -gt 0 ]; then
    caught=$((caught + 1)); echo "caught  $name: ${by[*]}"
  else
    echo "MISSED  $name"; bad=1
  fi
done
echo "mutation score: $caught/${#mutants[@]} protocol mutants caught; reference PASS on ${#items[@]} item(s)"
[ "$bad" -eq 0 ] || die "a protocol mutant was not caught as its header says, or the reference failed"
exit 0

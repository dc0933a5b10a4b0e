# The protocol mutants (fixtures/ports/*.patch with a "Caught-by:" header, docs/fixtures.md,
# "Protocol mutants"), certified: each is run through `otahil certify --port NAME --only IDS`
# on every board its header names (ID@BOARD; native otherwise). Every certification must end
# "not certified" (exit 1) with each named case FAIL in results.json, and each failure must match
# the header's "Cause:" (an extended regular expression over the case's reason and its failing
# checks, "CHECK DETAIL" a line), so a mutant is caught for the reason it models, not by any
# failure. The reference port is certified on the same cases and boards and must PASS them all.
# Prints the mutation score (mutants caught / mutants) and the IDs that caught each.
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
fixdir=${OTAHIL_FIXTURES:-$root/fixtures/ports}
header() {
  awk -v k="$2: " '/^---/ { exit } index($0, k) == 1 { print substr($0, length(k) + 1) }' "$1"
}
# ids BOARD LIST: the IDs of a Caught-by list that run on BOARD, comma-separated
ids() {
  local b=$1 out=() it
  IFS=', ' read -ra its <<<"$2"
  for it in "${its[@]}"; do
    [ -n "$it" ] || continue
    if [[ "$it" == *@* ]]; then [ "${it#*@}" = "$b" ] && out+=("${it%@*}"); else
      [ "$b" = native ] && out+=("$it"); fi
  done
  (IFS=,; echo "${out[*]}")
}
boards() {
  IFS=', ' read -ra its <<<"$1"
  for it in "${its[@]}"; do [[ "$it" == *@* ]] && echo "${it#*@}" || echo native; done | sort -u
}
# verdicts JSON: "ID VERDICT" per case ("ID@TRANSPORT VERDICT" for a transport matrix row), then
# the case's reason and failing checks, tab-indented
verdicts() {
  python3 - "$1" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    print(c["id"] + ("@" + c["transport"] if c.get("matrix") else ""), c["verdict"])
    if c.get("reason"):
        print("\t" + c["reason"])
    for k in c.get("checks", []):
        if k["verdict"] == "FAIL":
            print("\t%s %s" % (k["id"], k["detail"]))
PY
}
certify() { # PORT BOARD IDS OUT
  "$OTAHIL" certify --port "$1" --board "$2" --only "$3" --out "$4" --jobs 2 >"$4.out" 2>&1
  echo $? >"$4.rc"
}

shopt -s nullglob
mutants=()
declare -A union
for p in "$fixdir"/*.patch; do
  [ -n "$(header "$p" Caught-by)" ] || continue
  name=$(basename "$p" .patch)
  for k in Bug Field Caught-by Cause; do
    [ "$(header "$p" "$k" | wc -l)" -eq 1 ] || die "$name: the header needs one '$k:' line"
  done
  mutants+=("$name")
  by=$(header "$p" Caught-by)
  for b in $(boards "$by"); do
    list=$(ids "$b" "$by")
    "$OTAHIL" catalogue | awk '{ print $1 }' >"$T/known"
    for id in ${list//,/ }; do grep -qx "$id" "$T/known" || die "$name: Caught-by names $id, not a case ID"; done
    certify "$name" "$b" "$list" "$T/$name.$b"
    union[$b]="${union[$b]:+${union[$b]},}$list"
  done
done
[ ${#mutants[@]} -ge 10 ] || die "only ${#mutants[@]} protocol mutants in $fixdir"

bad=0 caught=0 nref=0
for b in "${!union[@]}"; do
  list=$(tr , '\n' <<<"${union[$b]}" | sort -u | paste -sd,)
  certify reference "$b" "$list" "$T/reference.$b"
  n=$(tr , '\n' <<<"$list" | wc -l); nref=$((nref + n))
  if [ "$(cat "$T/reference.$b.rc")" != 0 ] || [ "$(verdicts "$T/reference.$b/results.json" |
      grep -v $'^\t' | grep -vc ' PASS$')" != 0 ]; then
    echo "FAIL reference on $b: not every case of $list is PASS"; sed 's/^/     | /' "$T/reference.$b.out"; bad=1
  fi
done

for name in "${mutants[@]}"; do
  p=$fixdir/$name.patch
  cause=$(header "$p" Cause) by=$(header "$p" Caught-by)
  got=() ok=1
  for b in $(boards "$by"); do
    r=$T/$name.$b
    if [ "$(cat "$r.rc")" != 1 ] || [ ! -s "$r/results.json" ]; then
      echo "FAIL $name on $b: certify exit $(cat "$r.rc"), expected 1 (not certified)"
      sed 's/^/     | /' "$r.out"; ok=0; continue
    fi
    verdicts "$r/results.json" >"$r.verdicts"
    for id in $(ids "$b" "$by" | tr , ' '); do
      v=$(awk -v id="$id" '$1 == id { print $2 }' "$r.verdicts")
      why=$(awk -v id="$id" '/^\t/ { if (on) print; next } { on = ($1 == id) }' "$r.verdicts")
      # a matrix case's other transports: reported, not required (a bug may live in one
      # transport's code path only)
      also=$(awk -v id="$id" 'index($1, id "@") == 1 && $2 == "FAIL" { sub(/.*@/, "", $1); print $1 }' \
        "$r.verdicts" | paste -sd, -)
      if [ "$v" != FAIL ]; then
        echo "FAIL $name: $id is ${v:-missing} on $b, expected FAIL"; ok=0
      elif ! grep -qE -- "$cause" <<<"$why"; then
        echo "FAIL $name: $id failed on $b, but not for the cause '$cause':"; sed 's/^/     | /' <<<"$why"; ok=0
      else
        got+=("$id$([ "$b" != native ] && echo "@$b")${also:+ (also $also)}")
      fi
    done
  done
  if [ "$ok" -eq 1 ] && [ ${#got[@]} -gt 0 ]; then
    caught=$((caught + 1)); echo "caught  $name: ${got[*]}"
  else
    echo "MISSED  $name"; bad=1
  fi
done
echo "mutation score: $caught/${#mutants[@]} protocol mutants caught; reference PASS on $nref case(s)"
[ "$bad" -eq 0 ] || die "a protocol mutant was not caught as its header says, or the reference failed"
exit 0

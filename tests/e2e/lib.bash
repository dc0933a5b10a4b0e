# lib.bash - helpers for the end-to-end tests (sourced, not run).
set -u
: "${OTAHIL:?OTAHIL must point at the otahil binary}"
T=$(mktemp -d)
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
die() { echo "FAIL: $*" >&2; exit 1; }
# expect_events LOG EV... : the events occur in this order
expect_events() {
  local log=$1; shift
  python3 - "$log" "$@" <<'PY' || die "event order in $log"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = sys.argv[2:]; i = 0
for e in evs:
    if i < len(want) and e["ev"] == want[i]:
        i += 1
if i < len(want):
    sys.exit("missing %s (after %s)" % (want[i], want[i-1] if i else "start"))
seqs = [e["seq"] for e in evs]
if seqs != list(range(1, len(seqs) + 1)):
    sys.exit("seq is not 1..N in file order")
PY
}

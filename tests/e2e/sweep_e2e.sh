# The end-to-end sweep (a real Mosquitto, the civetweb firmware server and the
# cloud service, the device's connections dropped at every cut) numbers the
# same flash operations and gives the same verdicts as the port-level sweep,
# on the reference port and on a known-bad port; its replay command
# reproduces; it leaves no process behind.
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
export TMPDIR="$T"
verdicts() { sed -e '/^memo: /d' -e 's/^sweep (end to end):/sweep:/' -e 's/ ([0-9.]* s, [0-9]* points\/s)$//' -e 's/ --e2e//' "$1"; }

# Reference port: every invariant holds, the same ops and points both ways.
args=(--board mk3060 --mode torn --image-size 24K --stride 9 --jobs 2 --quiet)
"$OTAHIL" sweep "${args[@]}" > "$T/mem" || die "port-level: $(cat "$T/mem")"
"$OTAHIL" sweep "${args[@]}" --e2e > "$T/net" || die "end to end: $(cat "$T/net")"
grep -q '^sweep (end to end): .*, 0 failed' "$T/net" || die "end to end summary: $(cat "$T/net")"
[ "$(verdicts "$T/mem")" = "$(verdicts "$T/net")" ] ||
  die "the sweeps differ: $(cat "$T/mem") / $(cat "$T/net")"

# A known-bad port: the same failures, named the same way.
p="$root/fixtures/ports/erase-on-resume.patch"
read -ra bad <<<"$(sed -n 's/^Sweep: //p' "$p")"
"$OTAHIL" sweep --port erase-on-resume "${bad[@]}" --stride 7 --jobs 2 > "$T/bmem"; [ $? -eq 1 ] || die "port-level bad port: $(cat "$T/bmem")"
"$OTAHIL" sweep --port erase-on-resume "${bad[@]}" --stride 7 --jobs 2 --e2e > "$T/bnet"; [ $? -eq 1 ] || die "e2e bad port: $(cat "$T/bnet")"
grep -q '\[resume-corrupt\]$' "$T/bnet" || die "e2e: resume-corrupt not named: $(head -5 "$T/bnet")"
[ "$(verdicts "$T/bmem")" = "$(verdicts "$T/bnet")" ] ||
  die "bad port: the sweeps differ:$(diff <(verdicts "$T/bmem") <(verdicts "$T/bnet") | head -8)"

# The first failure's replay command (with --e2e) reproduces it.
line=$(grep -m1 '^FAIL at ' "$T/bnet")
replay=$(grep -m1 '^  replay: ' "$T/bnet" | sed 's/^  replay: otahil //')
case "$replay" in *--e2e*) ;; *) die "replay command lacks --e2e: $replay" ;; esac
read -ra r <<<"$replay"
got=$("$OTAHIL" "${r[@]}" --events "$T/ev.jsonl" | grep '^FAIL at ')
[ "$got" = "$line" ] || die "replay: '$got' is not '$line'"
grep -q '"ev":"device.power_cut"' "$T/ev.jsonl" || die "no power cut in the replay's events"

# Nothing left running: no broker, no worker.
sleep 0.2
left=$(pgrep -f "$T/otahil-sweep-" || true)
[ -z "$left" ] || die "processes left behind: $left"
ls -d "$T"/otahil-sweep-* 2>/dev/null && die "work directory left behind"
exit 0

# The reference port and bootloaders survive a power cut at every flash
# operation of an update (every mode on developerkit, whose ECC flash allows
# one program per unit; a stride on the other boards), in process and in
# forked children alike, the sweep is deterministic, and a replayed point
# shows the cut and the resume.
. "$(dirname "$0")/lib.bash"
sweep() { "$OTAHIL" sweep --image-size 24K --quiet "$@"; }
for mode in before after torn erase; do
  sweep --board developerkit --mode "$mode" --jobs 2 > "$T/dk-$mode" || die "developerkit $mode: $(cat "$T/dk-$mode")"
  grep -Eq ' ([0-9]+) flash ops, \1 cut points checked, 0 failed' "$T/dk-$mode" || die "developerkit $mode: not every op checked: $(cat "$T/dk-$mode")"
done
for b in native mk3060 esp8266; do
  sweep --board "$b" --mode torn --stride 7 --jobs 2 > "$T/$b" || die "$b torn: $(cat "$T/$b")"
  grep -q ', 0 failed' "$T/$b" || die "$b: $(cat "$T/$b")"
done
# Points in forked children (the fallback) end as points run in process do.
sweep --board mk3060 --mode torn --stride 7 --jobs 2 --fork > "$T/fork" || die "mk3060 torn --fork: $(cat "$T/fork")"
[ "$(sed 's/ (.*//' "$T/mk3060")" = "$(sed 's/ (.*//' "$T/fork")" ] || die "--fork differs: $(cat "$T/mk3060") / $(cat "$T/fork")"
# Same seed, same result; the phase filter keeps only that phase.
sweep --board esp8266 --mode torn --phase boot-counter --seed 9 > "$T/a" || die "boot-counter sweep: $(cat "$T/a")"
sweep --board esp8266 --mode torn --phase boot-counter --seed 9 > "$T/b" || die "boot-counter sweep (2)"
[ "$(sed 's/ (.*//' "$T/a")" = "$(sed 's/ (.*//' "$T/b")" ] || die "two runs differ"
grep -q 'phase boot-counter' "$T/a" || die "phase filter not reported: $(cat "$T/a")"
# Replay one download cut: power cut, resume from the breakpoint with Range.
k=$(sweep --board mk3060 --mode before --phase download-write --stride 1000000 | sed -n 's/.* \([0-9]*\) flash ops.*/\1/p')
[ -n "$k" ] || die "no op count"
pt=$(( k / 3 ))
"$OTAHIL" sweep --board mk3060 --image-size 24K --mode before --point "$pt" --events "$T/ev.jsonl" --flash-out "$T/flash.bin" > "$T/replay" || die "replay: $(cat "$T/replay")"
grep -q "^PASS at cut $pt of $k" "$T/replay" || die "replay line: $(cat "$T/replay")"
grep -q '"ev":"device.power_cut"' "$T/ev.jsonl" || die "no power cut in the replay's events"
"$OTAHIL" flash info "$T/flash.bin" --board mk3060 > "$T/info" || die "flash info on the replay's flash"
grep -q 'APPLICATION.*app-2.0.0' "$T/info" || die "APPLICATION does not hold v2: $(cat "$T/info")"
# Bad invocations: one line, exit 2.
"$OTAHIL" sweep --mode sideways 2>"$T/err"; [ $? -eq 2 ] && [ "$(wc -l < "$T/err")" -eq 1 ] || die "bad mode"
"$OTAHIL" sweep --port no-such-port 2>"$T/err"; [ $? -eq 2 ] && grep -q 'no-such-port' "$T/err" || die "missing port: $(cat "$T/err")"
exit 0

# Killing the broker mid-run is a harness error (exit 2) within seconds, not a hang or a FAIL.
. "$(dirname "$0")/lib.bash"
"$OTAHIL" run update --board native --out "$T/run" --throttle 20000 --reboot-delay-ms 200 >"$T/out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  grep -q '"ev":"http.request"' "$T/run/events.jsonl" 2>/dev/null && break
  sleep 0.05
done
bpid=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "broker.started" in l][0]["pid"])' "$T/run/events.jsonl") || die "no broker.started event"
kill -9 "$bpid"
start=$(date +%s)
wait "$pid"; rc=$?
took=$(( $(date +%s) - start ))
cat "$T/out"
[ "$rc" -eq 2 ] || die "exit $rc, expected 2"
[ "$took" -le 10 ] || die "took ${took}s to notice"
grep -q '^ERROR update.*broker' "$T/out" || die "no ERROR line naming the broker"
kill -0 "$bpid" 2>/dev/null && die "broker still running"
pgrep -f "otahil-dut.*$T/run/flash.bin" && die "device still running"
exit 0

# A v2 that crashes at boot on a pingpong board: rollback, v1 reported, job failed.
. "$(dirname "$0")/lib.bash"
"$OTAHIL" run rollback --board esp8266 --out "$T/run" --reboot-delay-ms 200 | tee "$T/out" || die "run rollback failed"
grep -q '^PASS rollback' "$T/out" || die "no PASS line"
expect_events "$T/run/events.jsonl" job.pushed boot.switch app.crash boot.rollback device.inform job.failed
# on a copy board the case does not apply and says why
"$OTAHIL" run rollback --board native --out "$T/skip" | grep -q '^SKIP rollback.*needs pingpong' || die "no SKIP on a copy board"

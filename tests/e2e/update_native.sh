# The v1 -> v2 update on the default board, end to end.
. "$(dirname "$0")/lib.bash"
"$OTAHIL" run update --board native --out "$T/run" --reboot-delay-ms 200 | tee "$T/out" || die "run update failed"
grep -q '^PASS update' "$T/out" || die "no PASS line"
grep -q "event log: $T/run/events.jsonl" "$T/out" || die "no event log path"
expect_events "$T/run/events.jsonl" device.inform job.pushed agent.progress http.request port.set_boot device.reboot boot.copy device.inform job.succeeded
"$OTAHIL" flash info "$T/run/flash.bin" --board native | tee "$T/info" || die "flash info"
grep -E '^APPLICATION .*image app-2\.0\.0-20260101\.1200.*<- boots' "$T/info" || die "APPLICATION does not hold v2"
grep -q '^violations 0' "$T/info" || die "violations"

# make certify's job: every case on the default board, with a summary.
. "$(dirname "$0")/lib.bash"
"$OTAHIL" certify --board native --out "$T/c" --reboot-delay-ms 200 | tee "$T/out" || die "certify failed"
grep -q "report: $T/c/summary.txt" "$T/out" || die "no report path"
grep -q '^PASS  update' "$T/c/summary.txt" || die "update not PASS"
grep -q '^PASS  version-same' "$T/c/summary.txt" || die "version-same not PASS"
grep -q '^SKIP  rollback' "$T/c/summary.txt" || die "rollback not SKIP on a copy board"

# The v1 -> v2 update on mk3060 (rel_2.0.0 partition table, KV over two partitions).
. "$(dirname "$0")/lib.bash"
"$OTAHIL" run update --board mk3060 --out "$T/run" --reboot-delay-ms 200 | tee "$T/out" || die "run update failed"
grep -q '^PASS update' "$T/out" || die "no PASS line"
"$OTAHIL" flash info "$T/run/flash.bin" --board mk3060 | grep -E '^APPLICATION .*app-2\.0\.0' || die "APPLICATION does not hold v2"

# A vendor's port certified from its sources: built against include/ unchanged, with the
# module found in the sources; a missing board-support symbol gets a hint; a failing case
# leaves a repro folder that `otahil repro` replays with the same verdict.
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$T/v"
# a G0-style port: four callbacks, its own module name, a watchdog call of the vendor's
sed -e 's/reference_ota_module/acme_ota_module/' \
    -e 's/^    .ota_rollback = ref_rollback,$//' \
    -e 's/^static int ref_init(hal_ota_module_t \*m, void \*something)$/void acme_wdg_feed(void);\n&/' \
    -e '0,/^    (void)m;$/s//    (void)m; acme_wdg_feed();/' \
    "$root/boards/ports/reference/ota_port.c" >"$T/v/ota_port.c"
grep -q acme_wdg_feed "$T/v/ota_port.c" || die "test port not made"
"$OTAHIL" certify --port "$T/v/ota_port.c" --only OTA-DL-001 --out "$T/o1" >"$T/o1.out" 2>&1; rc=$?
[ "$rc" -eq 2 ] || { cat "$T/o1.out"; die "unbuildable port: exit $rc, expected 2"; }
grep -q "undefined reference to .acme_wdg_feed" "$T/o1.out" || die "the linker's message is not shown"
grep -q "hint: acme_wdg_feed is not provided by otahil's porting API" "$T/o1.out" || die "no hint"
printf 'void acme_wdg_feed(void);\nvoid acme_wdg_feed(void) {}\n' >"$T/v/bsp.c"
printf '[port]\nname = ACME port\nvendor = ACME\ngeneration = g0\nbootloader = copy\nresume = yes\n' >"$T/v/acme.ini"
"$OTAHIL" certify --port "$T/v/ota_port.c" "$T/v/bsp.c" --profile "$T/v/acme.ini" \
  --only OTA-DL-001,OTA-BRK-001,OTA-PWR-001,OTA-RB-001 --out "$T/o2" >"$T/o2.out" 2>&1 \
  || { cat "$T/o2.out"; die "vendor port: certify failed"; }
grep -q "building the port (module acme_ota_module)" "$T/o2.out" || die "module not found in the sources"
s="$T/o2/summary.txt"
grep -q '^PASS  OTA-DL-001 ' "$s" && grep -q '^PASS  OTA-BRK-001 ' "$s" && grep -q '^PASS  OTA-PWR-001 ' "$s" \
  || { cat "$s"; die "vendor port: cases"; }
grep -q '^SKIP  OTA-RB-001 ' "$s" || die "rollback case not SKIP"
grep -q 'profile ACME port' "$s" || die "profile not at the top of the summary"
# repro: a failing case replays with the same verdict; --until-fault stops at the fault
"$OTAHIL" certify --port agent-ignores-status --only OTA-DL-002 --out "$T/o3" >/dev/null 2>&1
[ $? -eq 1 ] || die "agent-ignores-status OTA-DL-002: expected FAIL"
"$OTAHIL" repro "$T/o3/repro/OTA-DL-002" >"$T/r.out" 2>"$T/r.err"; rc=$?
[ "$rc" -eq 1 ] || { cat "$T/r.out"; die "repro: exit $rc, expected 1"; }
grep -q "same verdict as recorded" "$T/r.out" || die "repro: verdict"
grep -q '"ev":"http.fault"' "$T/o3/repro/OTA-DL-002/rerun/events.jsonl" || die "repro: no fault in the log"
"$OTAHIL" repro "$T/o3/repro/OTA-DL-002" --until-fault --out "$T/r2" >"$T/r2.out" 2>/dev/null
grep -q 'stopped at the first fault' "$T/r2.out" || { cat "$T/r2.out"; die "--until-fault"; }
grep -q '"ev":"run.stopped"' "$T/r2/events.jsonl" || die "--until-fault: no run.stopped event"
"$OTAHIL" flash info "$T/r2/flash.bin" --board native >/dev/null || die "flash at the fault unreadable"
echo "certify_vendor: sources built and certified, hints, repro"

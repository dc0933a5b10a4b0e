# A vendor's port certified on the QEMU target from its sources (docs/qemu.md, "A vendor's
# sources"): built with arm-none-eabi-gcc and linked with the firmware's fixed part into its
# own bootloader and application programs; an update, a resume, a power-cut sweep and, on the
# A/B board, the rollback cases PASS with "target": "qemu"; `otahil run --port FILE.c` boots
# the same build; a compile error and a missing board-support symbol are exit 2 with the
# compiler's message and the hint; a known-bad port given as sources fails on QEMU the case it
# fails natively, and its repro folder replays it on QEMU.
. "$(dirname "$0")/lib.bash"
command -v qemu-system-arm >/dev/null || { echo "SKIP: qemu-system-arm is not installed (scripts/install-deps.sh)"; exit 0; }
command -v arm-none-eabi-gcc >/dev/null || { echo "SKIP: arm-none-eabi-gcc is not installed (scripts/install-deps.sh)"; exit 0; }
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(dirname "$OTAHIL")
[ -f "$bin/../qemu/libotahil-fw.a" ] || die "no $bin/../qemu/libotahil-fw.a (make qemu-fw)"
mkdir -p "$T/v"
# a G1 port with its own module name and a watchdog call of the vendor's board support
sed -e 's/reference_ota_module/acme_ota_module/' \
    -e 's/^static int ref_init(hal_ota_module_t \*m, void \*something)$/void acme_wdg_feed(void);\n&/' \
    -e '0,/^    (void)m;$/s//    (void)m; acme_wdg_feed();/' \
    "$root/boards/ports/reference/ota_port.c" >"$T/v/ota_port.c"
grep -q 'acme_wdg_feed();' "$T/v/ota_port.c" || die "test port not made"

# without its board support: the linker's message, the hint, a one-line error naming the file
"$OTAHIL" certify --target qemu --port "$T/v/ota_port.c" --only OTA-DL-001 --out "$T/e1" >"$T/e1.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || { cat "$T/e1.out"; die "unbuildable port on QEMU: exit $rc, expected 2"; }
grep -q "undefined reference to .acme_wdg_feed" "$T/e1.out" || die "the linker's message is not shown"
grep -q "hint: acme_wdg_feed is not provided by otahil's porting API" "$T/e1.out" || die "no hint"
grep -q "^otahil certify: the port does not build for the QEMU target: .*ota_port.c:[0-9]*: undefined reference" \
  "$T/e1.out" || { cat "$T/e1.out"; die "no one-line error naming the file"; }
[ ! -e "$T/e1/results.json" ] || die "a report was written for a port that does not build"
# a profile naming a module the sources do not define: the hint, and a line that says so
printf '[port]\nname = ACME port\nvendor = ACME\ngeneration = g1\nbootloader = copy\nmodule = acme_nosuch\n' \
  >"$T/v/wrong.ini"
"$OTAHIL" certify --target qemu --port "$T/v/ota_port.c" --profile "$T/v/wrong.ini" --only OTA-DL-001 \
  --out "$T/e3" >"$T/e3.out" 2>&1
[ $? -eq 2 ] || die "a module the sources do not define: expected exit 2"
grep -q "hint: the port's sources define no acme_nosuch" "$T/e3.out" || die "no module hint"
grep -q "^otahil certify: .*module acme_nosuch: the port's sources define no such variable" "$T/e3.out" ||
  { cat "$T/e3.out"; die "no one-line error naming the module"; }
# a syntax error in a copy: arm-none-eabi-gcc's message and the file's line
sed '0,/return 0;/s//return 0/' "$T/v/ota_port.c" >"$T/v/broken.c"
"$OTAHIL" run update --target qemu --port "$T/v/broken.c" --out "$T/e2" >"$T/e2.out" 2>&1
rc=$?
[ "$rc" -eq 2 ] || { cat "$T/e2.out"; die "syntax error on QEMU: exit $rc, expected 2"; }
grep -q "broken.c:[0-9]*:[0-9]*: error: expected ';'" "$T/e2.out" || die "the compiler's message is not shown"
grep -q "^otahil run: the port does not build for the QEMU target: .*broken.c:[0-9]*:[0-9]*: error:" "$T/e2.out" ||
  { cat "$T/e2.out"; die "no one-line error naming broken.c"; }

# with it: the update (every transport the profile claims), a resume, a strided power-cut sweep
# (its register pointer draws a warning, shown and not fatal, as in the native build)
printf 'void acme_wdg_feed(void);\nchar *acme_wdg_reg = 0x40001000;\nvoid acme_wdg_feed(void) {}\n' >"$T/v/bsp.c"
printf '[port]\nname = ACME port\nvendor = ACME\ngeneration = g1\nbootloader = copy, pingpong\nresume = yes\n%s\n' \
  'transports = mqtt+http, mqtt+https, coap+coap' >"$T/v/acme.ini"
"$OTAHIL" certify --target qemu --board qemu-mps2-an385 --port "$T/v/ota_port.c" "$T/v/bsp.c" \
  --profile "$T/v/acme.ini" --only OTA-DL-001,OTA-BRK-001,OTA-PWR-001 --stride 100 --jobs 2 \
  --out "$T/o1" >"$T/o1.out" 2>&1 || { tail -n 20 "$T/o1.out"; die "vendor port on QEMU: certify failed"; }
grep -q "building the port (module acme_ota_module) for the QEMU target" "$T/o1.out" ||
  die "module not found in the sources"
grep -q "bsp.c:2:.*warning: initialization of 'char \*' from 'int'" "$T/o1.out" || die "the compiler's warning is not shown"
for f in port-boot.elf port-app-v1.bin port-app-v2.bin; do
  [ -s "$T/o1/port/$f" ] || die "no $f in the certify folder"
done
arm-none-eabi-nm "$T/o1/port/port-app-v2.elf" | grep -q ' acme_wdg_feed$' || die "the vendor's code is not in the program"
arm-none-eabi-nm "$T/o1/port/port-boot.elf" | grep -q ' acme_ota_module$' && die "the port is in the bootloader program"
python3 - "$T/o1/results.json" <<'PY' || die "vendor port on QEMU: results.json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["target"] == "qemu", r["target"]
assert "ota_port.c" in r["port"] and "bsp.c" in r["port"], r["port"]
v = {c["id"] + ("@" + c["transport"] if c["matrix"] else ""): c["verdict"] for c in r["cases"]}
for cid in ("OTA-DL-001", "OTA-BRK-001", "OTA-PWR-001"):
    assert v.get(cid) == "PASS", (cid, v)
# the transports the profile claims run over the relay; the other is SKIP
assert v["OTA-DL-001@mqtt+https"] == v["OTA-DL-001@coap+coap"] == "PASS", v
assert v["OTA-DL-001@coap+http"] == "SKIP", v
sweep = [c for c in r["cases"] if c["id"] == "OTA-PWR-001"][0]
assert "on QEMU" in sweep["reason"] and "every 100" in sweep["reason"], sweep["reason"]
PY
grep -q '"firmware":"[^"]*/o1/port/port-boot.elf"' "$T/o1/runs/OTA-DL-001/events.jsonl" ||
  die "the runs did not boot the vendor's bootloader program"
grep -q 'otahil-app: app-2.0.0-20260101.1200 running' "$T/o1/runs/OTA-DL-001/events.jsonl" ||
  die "the vendor's v2 program did not run"
grep -q "target qemu" "$T/o1/summary.txt" || die "the summary does not name the target"
# the A/B board: a v2 that crashes at boot is rolled back, a good boot is confirmed
"$OTAHIL" certify --target qemu --board qemu-mps2-an385-ab --port "$T/v/ota_port.c" "$T/v/bsp.c" \
  --profile "$T/v/acme.ini" --only OTA-RB-001,OTA-RB-002 --out "$T/o2" >"$T/o2.out" 2>&1 ||
  { tail -n 20 "$T/o2.out"; die "vendor port on the A/B QEMU board: certify failed"; }
grep -q '^PASS  OTA-RB-001 ' "$T/o2/summary.txt" && grep -q '^PASS  OTA-RB-002 ' "$T/o2/summary.txt" ||
  { cat "$T/o2/summary.txt"; die "rollback cases on QEMU"; }
# otahil run boots the same build
"$OTAHIL" run update --target qemu --board qemu-mps2-an385 --port "$T/v/ota_port.c" "$T/v/bsp.c" \
  --out "$T/r1" >"$T/r1.out" 2>&1 || { cat "$T/r1.out"; die "otahil run --port FILE.c on QEMU"; }
grep -q '^PASS update' "$T/r1.out" || die "run: no PASS"
grep -q '"ev":"qemu.start".*"firmware":"[^"]*/r1/port/port-boot.elf"' "$T/r1/events.jsonl" ||
  die "run: the vendor's programs were not booted"
# the same sources over the firmware's own IP stack (--net user): port-nic-*.bin
"$OTAHIL" run update --target qemu --net user --board qemu-mps2-an385 --port "$T/v/ota_port.c" "$T/v/bsp.c" \
  --out "$T/r2" >"$T/r2.out" 2>&1 || { cat "$T/r2.out"; die "otahil run --net user --port FILE.c"; }
grep -q '^PASS update' "$T/r2.out" || die "run --net user: no PASS"
grep -q '"ev":"qemu.start".*"firmware":"[^"]*/r2/port/port-nic-boot.elf".*"net":"user"' "$T/r2/events.jsonl" ||
  die "run --net user: the vendor's programs with their own IP stack were not booted"

# a known-bad port given as its sources (the patched copy make leaves): the same FAIL as natively
bad="$bin/../fixtures/erase-on-resume/boards/ports/reference/ota_port.c"
[ -f "$bad" ] || die "no $bad (make builds the known-bad variants)"
"$OTAHIL" certify --target qemu --port "$bad" --only OTA-BRK-001 --out "$T/b1" >"$T/b1.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { tail -n 20 "$T/b1.out"; die "erase-on-resume sources on QEMU: exit $rc, expected 1"; }
"$OTAHIL" certify --port "$bad" --only OTA-BRK-001 --out "$T/b2" >"$T/b2.out" 2>&1
[ $? -eq 1 ] || die "erase-on-resume sources natively: expected exit 1"
grep -q '^FAIL  OTA-BRK-001 ' "$T/b1/summary.txt" && grep -q '^FAIL  OTA-BRK-001 ' "$T/b2/summary.txt" ||
  die "erase-on-resume: OTA-BRK-001 is not FAIL on both targets"
grep -q "^port = .*/b1/port/port-boot.elf" "$T/b1/repro/OTA-BRK-001/repro.ini" || die "repro.ini: no programs"
grep -q '^target = qemu' "$T/b1/repro/OTA-BRK-001/repro.ini" || die "repro.ini: no target"
"$OTAHIL" repro "$T/b1/repro/OTA-BRK-001" --out "$T/rr" >"$T/rr.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { tail "$T/rr.out"; die "repro of the vendor's QEMU case ended $rc, not 1"; }
grep -q "same verdict as recorded" "$T/rr.out" || die "repro: verdict"
grep -q '"ev":"qemu.start".*"firmware":"[^"]*/b1/port/port-boot.elf"' "$T/rr/events.jsonl" ||
  die "the repro did not boot the vendor's programs"
echo "certify_qemu_vendor: sources built for QEMU and certified, errors and hints, a known-bad port, repro"

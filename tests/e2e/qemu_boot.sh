# The QEMU target's boot chain (docs/qemu.md, "Boot chain"): the bootloader
# program runs the bootloader model, copies the booted slot's application
# program into the RAM execution area and enters it; the images the cloud
# serves are the real application programs. v1 -> v2 on the copy board and
# on the A/B board (v2 runs from OTA_TEMP), a v2 that crashes at boot rolled
# back to the v1 program, a slot holding an image that is no program, and
# `otahil image make --payload`.
. "$(dirname "$0")/lib.bash"
command -v qemu-system-arm >/dev/null || { echo "SKIP: qemu-system-arm is not installed (scripts/install-deps.sh)"; exit 0; }
command -v arm-none-eabi-gcc >/dev/null || { echo "SKIP: arm-none-eabi-gcc is not installed (scripts/install-deps.sh)"; exit 0; }
bin=$(dirname "$OTAHIL")
q="$bin/../qemu"
for f in otahil-boot.elf app-v1.bin app-v2.bin app-v1.img app-v2.img; do
  [ -f "$q/$f" ] || die "no $q/$f (make qemu-fw)"
done

# the programs: a vector table for the execution area, marked as an application
python3 - "$q/app-v1.bin" "$q/app-v2.bin" <<'PY' || die "the application programs are not linked for the execution area"
import struct, sys
for p in sys.argv[1:]:
    b = open(p, "rb").read()
    sp, reset = struct.unpack_from("<II", b, 0)
    assert 0x20100000 < sp <= 0x20400000, (p, hex(sp))
    assert reset & 1 and 0x20000000 <= reset < 0x20000000 + len(b), (p, hex(reset))
    assert struct.unpack_from("<I", b, 28)[0] == 0x50504148, p
    assert len(b) < 0xF0000 - 156, (p, len(b))
PY
"$OTAHIL" image info "$q/app-v2.img" | tee "$T/info" || die "image info app-v2.img"
grep -q '^version  app-2.0.0-20260101.1200' "$T/info" || die "app-v2.img does not say v2"
cmp <(tail -c +129 "$q/app-v2.img" | head -c "$(stat -c %s "$q/app-v2.bin")") "$q/app-v2.bin" ||
  die "app-v2.img's payload is not the program"

# image make --payload: the bytes given; an unreadable file is one line, exit 2
"$OTAHIL" image make --version app-9.0.0 --payload "$q/app-v1.bin" --never-confirm -o "$T/nc.img" >/dev/null ||
  die "image make --payload"
"$OTAHIL" image info "$T/nc.img" | grep -q '^flags    0x2' || die "--never-confirm lost with --payload"
"$OTAHIL" image make --version app-9.0.0 --payload "$T/none.bin" -o "$T/x.img" 2>"$T/err"
[ $? -eq 2 ] || die "a missing --payload file was accepted"
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "payload $T/none.bin" "$T/err" || die "no one-line error: $(cat "$T/err")"

# v1 -> v2 on the copy board: each boot is the bootloader program, then the
# program the slot holds; the second boot runs the v2 program the cloud served
"$OTAHIL" run update --target qemu --board qemu-mps2-an385 --out "$T/up" --reboot-delay-ms 200 | tee "$T/out" ||
  die "run update --target qemu failed"
grep -q '^PASS update' "$T/out" || die "no PASS update"
cmp <(tail -c +129 "$T/up/fw-target.bin" | head -c "$(stat -c %s "$q/app-v2.bin")") "$q/app-v2.bin" ||
  die "the served image is not the v2 program"
expect_events "$T/up/events.jsonl" qemu.start boot.start boot.jump uart.line boot.image app.start job.pushed \
  device.reboot qemu.start boot.copy boot.jump uart.line boot.image app.start job.succeeded
python3 - "$T/up/events.jsonl" <<'PY' || die "the boot chain did not run v1, then v2"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
fw = [e["firmware"] for e in evs if e["ev"] == "qemu.start"]
assert len(fw) == 2 and all(f.endswith("/otahil-boot.elf") for f in fw), fw
jumps = [e for e in evs if e["ev"] == "boot.jump"]
assert [j["slot"] for j in jumps] == ["APPLICATION", "APPLICATION"], jumps
assert all(j["to"] == "0x20000000" and j["from"] == "0x21020080" for j in jumps), jumps
apps = [e["line"] for e in evs if e["ev"] == "uart.line" and e["line"].startswith("otahil-app: ")]
assert len(apps) == 2, apps
assert apps[0].startswith("otahil-app: app-1.0.0-20180101.1000 running from 0x20000000"), apps
assert apps[1].startswith("otahil-app: app-2.0.0-20260101.1200 running from 0x20000000"), apps
PY

# v1 -> v2 on the A/B board: v2 is entered from OTA_TEMP and confirms
"$OTAHIL" run update --target qemu --board qemu-mps2-an385-ab --out "$T/ab" --reboot-delay-ms 200 | tee "$T/out" ||
  die "run update --target qemu on the A/B board failed"
grep -q '^PASS update' "$T/out" || die "no PASS update on the A/B board"
python3 - "$T/ab/events.jsonl" <<'PY' || die "v2 did not run from OTA_TEMP"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
jumps = [e for e in evs if e["ev"] == "boot.jump"]
assert [j["slot"] for j in jumps][:2] == ["APPLICATION", "OTA_TEMP"], jumps
assert jumps[1]["from"] == "0x21110080", jumps
apps = [e["line"] for e in evs if e["ev"] == "uart.line" and e["line"].startswith("otahil-app: ")]
assert apps[1].startswith("otahil-app: app-2.0.0-20260101.1200") and "slot 0x21110000" in apps[1], apps
PY

# a v2 that crashes at boot (its header's flag) on the A/B board: the v2
# program is entered and crashes, the bootloader rolls back to the v1 program
"$OTAHIL" run rollback --target qemu --board qemu-mps2-an385-ab --out "$T/rb" --reboot-delay-ms 200 | tee "$T/out" ||
  die "run rollback --target qemu failed"
grep -q '^PASS rollback' "$T/out" || die "no PASS rollback"
expect_events "$T/rb/events.jsonl" job.pushed boot.switch boot.jump app.crash boot.rollback boot.jump app.start \
  job.failed
python3 - "$T/rb/events.jsonl" <<'PY' || die "the programs entered are not v1, v2 (crash), ..., v1"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
apps = [e["line"].split()[1] for e in evs if e["ev"] == "uart.line" and e["line"].startswith("otahil-app: ")]
assert apps[0] == "app-1.0.0-20180101.1000" and apps[1] == "app-2.0.0-20260101.1200", apps
assert apps[-1] == "app-1.0.0-20180101.1000", apps
PY

# a slot whose image is no program (a payload made from a seed): the
# bootloader verifies the image, finds no application in it and the boot
# ends as a crash (11), never a jump into it
"$OTAHIL" image make --version app-1.0.0-20180101.1000 -o "$T/seed.img" >/dev/null || die "image make"
"$OTAHIL" flash provision "$T/seed.bin" --board qemu-mps2-an385 --image "$T/seed.img" >/dev/null || die "provision"
"$bin/otahil-qemu" --board qemu-mps2-an385 --flash "$T/seed.bin" --broker 127.0.0.1:9 \
  --firmware "$q/otahil-boot.elf" --events "$T/seed.jsonl" 2>"$T/err"
rc=$?
[ "$rc" -eq 11 ] || die "a slot without a program ended with $rc, not 11: $(cat "$T/err")"
grep -q '"ev":"boot.not_a_program","slot":"APPLICATION","why":"no application marker in the vector table"' \
  "$T/seed.jsonl" || die "no boot.not_a_program"
grep -q '"ev":"boot.jump"' "$T/seed.jsonl" && die "the bootloader jumped into a seed payload"
echo "qemu_boot: ok"

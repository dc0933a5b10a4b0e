# The QEMU target (docs/qemu.md): the device's firmware on a Cortex-M3 in
# qemu-system-arm, its network offloaded through the mailbox to the real
# broker and firmware server. The update, a rollback, a power cut during the
# download (resumed with Range after the reboot), a dropped download resumed
# with Range, a power cut during the bootloader copy, HTTPS through the
# relay's TLS, an update over CoAP (signal and Block2 download) through the
# relay's CoAP client and one over DTLS with a pre-shared key, QMP (resume,
# power-off, a guest reset counted), a hung guest (ERROR, not FAIL), and the
# region file read by `otahil flash info`.
. "$(dirname "$0")/lib.bash"
command -v qemu-system-arm >/dev/null || { echo "SKIP: qemu-system-arm is not installed (scripts/install-deps.sh)"; exit 0; }
command -v arm-none-eabi-gcc >/dev/null || { echo "SKIP: arm-none-eabi-gcc is not installed (scripts/install-deps.sh)"; exit 0; }
bin=$(dirname "$OTAHIL")
[ -x "$bin/otahil-qemu" ] || die "no $bin/otahil-qemu (make)"
[ -f "$bin/../qemu/otahil-fw.elf" ] || die "no $bin/../qemu/otahil-fw.elf (make qemu-fw)"

# the update, end to end, every boot a QEMU process
"$OTAHIL" run update --target qemu --board qemu-mps2-an385 --out "$T/up" --reboot-delay-ms 200 | tee "$T/out" ||
  die "run update --target qemu failed"
grep -q '^PASS update (board qemu-mps2-an385' "$T/out" || die "no PASS line"
grep -qE '^  PASS  image-exact' "$T/out" || die "image-exact did not pass"
# (the UART's lines are read on their own thread, so where they land among the mailbox's
# events depends on the schedule: they are checked below, not in this order)
expect_events "$T/up/events.jsonl" qemu.start boot.start device.inform job.pushed http.request \
  port.set_boot qemu.boot_end device.exit qemu.start boot.copy device.inform job.succeeded
python3 - "$T/up/events.jsonl" <<'PY' || die "boots not ended by the firmware's own exit"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
ends = [e for e in evs if e["ev"] == "qemu.boot_end"]
assert ends and ends[0]["code"] == 10 and ends[0]["reason"] == "hal_reboot", ends
lines = [e["line"] for e in evs if e["ev"] == "uart.line"]
assert any(l.startswith("otahil-fw: board qemu-mps2-an385") for l in lines), lines
# QMP: each boot's guest resumed through it, the last powered off through it (quit)
assert [e["event"] for e in evs if e["ev"] == "qemu.qmp"].count("RESUME") == 2, evs
off = [e for e in evs if e["ev"] == "device.poweroff"]
assert len(off) == 1 and off[0]["via"] == "qmp", off
exits = [e for e in evs if e["ev"] == "qemu.exit"]
assert len(exits) == 2 and exits[0]["code"] == 10 and exits[1]["shutdown"] == "host-qmp-quit", exits
assert all(e["resets"] == 0 for e in exits), exits
PY
# the flash file and the QEMU region file it was copied from read the same
for f in "$T/up/flash.bin" "$T/up/flash.bin.qemu"; do
  "$OTAHIL" flash info "$f" --board qemu-mps2-an385 | tee "$T/info" || die "flash info $f"
  grep -E '^APPLICATION .*image app-2\.0\.0-20260101\.1200.*<- boots' "$T/info" || die "$f: APPLICATION does not hold v2"
  grep -E '^counters .* 2 boots' "$T/info" || die "$f: the model's boot counter is not 2"
  grep -q '^violations 0' "$T/info" || die "$f: violations"
done

# CoAP signal and Block2 download (coap+coap): the firmware's ota_IOT_CoAP_*
# calls go through the mailbox to the relay's libcoap client; no HTTP at all
"$OTAHIL" run update --target qemu --board qemu-mps2-an385 --transport coap+coap --out "$T/coap" \
  --reboot-delay-ms 200 | tee "$T/out" || die "run update --target qemu --transport coap+coap failed"
grep -q '^PASS update (board qemu-mps2-an385' "$T/out" || die "coap+coap: no PASS line"
grep -qE '^  PASS  image-exact' "$T/out" || die "coap+coap: image-exact did not pass"
expect_events "$T/coap/events.jsonl" device.transport qemu.start coap.client coap.auth coap.auth_reply \
  coap.push_delivered coap.block port.set_boot qemu.boot_end qemu.start boot.copy coap.auth job.succeeded
python3 - "$T/coap/events.jsonl" <<'PY' || die "coap+coap on QEMU: events"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
tr = [e for e in evs if e["ev"] == "device.transport"]
assert tr and all(e["signal"] == "coap" and e["download"] == "coap" and e["offload"] for e in tr), tr
# the relay's client, once a boot, for the URL the device was given
cl = [e for e in evs if e["ev"] == "coap.client"]
assert len(cl) == 2 and all(e["src"] == "os" and e["url"].startswith("coap://127.0.0.1:") for e in cl), cl
assert all(e["ok"] for e in evs if e["ev"] == "coap.auth_reply"), "an /auth was refused"
assert len([e for e in evs if e["ev"] == "coap.block"]) >= 64, "the firmware did not come in Block2 blocks"
assert not [e for e in evs if e["ev"] == "http.request"], "an HTTP request on coap+coap"
PY

# coaps with a pre-shared key (no CA in the plan's DTLS): the relay's client does the DTLS-PSK handshake
printf '[plan]\ntransport = coaps+coaps\ndtls = psk\n' >"$T/psk.plan"
"$OTAHIL" run update --target qemu --board qemu-mps2-an385 --plan "$T/psk.plan" --out "$T/psk" >"$T/out" ||
  die "coaps+coaps (PSK) on QEMU: $(head -1 "$T/out")"
grep -q '"ev":"coap.dtls_connected","auth":"psk"' "$T/psk/events.jsonl" || die "no DTLS-PSK session"

# a v2 that crashes at boot, on the A/B board: rolled back, v1 reported
"$OTAHIL" run rollback --target qemu --board qemu-mps2-an385-ab --out "$T/rb" --reboot-delay-ms 200 | tee "$T/out" ||
  die "run rollback --target qemu failed"
grep -q '^PASS rollback' "$T/out" || die "no PASS rollback"
expect_events "$T/rb/events.jsonl" job.pushed boot.switch app.crash boot.rollback device.inform job.failed

# power cut (torn program) at flash op 340, in the download after its first
# checkpoint: the next boot resumes from the breakpoint and the update passes
cat > "$T/retry.plan" <<'PLAN'
[plan]
name = qemu-cut-retry
description = The device loses power once during the download; the job has retries left.
expect = pass
retries = 2
PLAN
"$OTAHIL" run update --target qemu --board qemu-mps2-an385 --cut-at 340:torn --plan "$T/retry.plan" \
  --out "$T/cut" --reboot-delay-ms 200 | tee "$T/out" || die "run with a power cut failed"
grep -q '^PASS update' "$T/out" || die "no PASS after the power cut"
expect_events "$T/cut/events.jsonl" agent.http_get device.power_cut device.exit boot.start agent.http_get \
  port.set_boot boot.copy job.succeeded
python3 - "$T/cut/events.jsonl" <<'PY' || die "no cut at op 340 or no resume"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
cut = [e for e in evs if e["ev"] == "device.power_cut"]
assert len(cut) == 1 and cut[0]["where"] == "flash op 340", cut
exits = [e["status"] for e in evs if e["ev"] == "device.exit"]
assert exits[0] == "power-cut", exits
gets = [e["range_from"] for e in evs if e["ev"] == "agent.http_get"]
assert len(gets) == 2 and gets[0] == 0 and gets[1] > 0, gets
PY
# a download dropped by the proxy after 40000 bytes: the device resumes with
# Range from its last checkpoint (resume-after-drop, fixtures/faults)
"$OTAHIL" run resume-after-drop --target qemu --board qemu-mps2-an385 --out "$T/drop" --reboot-delay-ms 200 |
  tee "$T/out" || die "run resume-after-drop --target qemu failed"
grep -q '^PASS resume-after-drop' "$T/out" || die "no PASS after the dropped download"
grep -qE '^  PASS  resume-range' "$T/out" || die "resume-range did not pass"
python3 - "$T/drop/events.jsonl" <<'PY' || die "no resume with Range after the drop"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
gets = [e["range_from"] for e in evs if e["ev"] == "agent.http_get"]
assert len(gets) == 2 and gets[0] == 0 and 0 < gets[1] <= 40000 and gets[1] % 16384 == 0, gets
assert any(e["ev"] == "qemu.start" for e in evs)
PY

# a power cut during the bootloader copy: the op is found from the clean
# run's event log (qemu.start gives the flash op counter as each boot starts;
# boot 2 starts with the copy), then the same update runs with the power cut
# a few ops into that boot; the copy restarts on the next boot and v2 runs
copy_op=$(python3 - "$T/up/events.jsonl" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
starts = [e["ops"] for e in evs if e["ev"] == "qemu.start"]
assert len(starts) == 2, starts
print(starts[1] + 6)
PY
) || die "no op count in qemu.start"
"$OTAHIL" run update --target qemu --board qemu-mps2-an385 --cut-at "$copy_op:torn" --plan "$T/retry.plan" \
  --out "$T/copycut" --reboot-delay-ms 200 | tee "$T/out" || die "run with a power cut in the copy failed"
grep -q '^PASS update' "$T/out" || die "no PASS after the power cut in the bootloader copy"
expect_events "$T/copycut/events.jsonl" port.set_boot device.reboot boot.start boot.copy.start device.power_cut \
  device.exit boot.start boot.copy.start boot.copy device.inform job.succeeded
python3 - "$T/copycut/events.jsonl" "$copy_op" <<'PY' || die "the cut did not fall inside the copy"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
names = [e["ev"] for e in evs]
cut = names.index("device.power_cut")
assert evs[cut]["where"] == "flash op " + sys.argv[2], evs[cut]
last_start = max(i for i in range(cut) if names[i] == "boot.copy.start")
assert "boot.copy" not in names[last_start:cut], "the copy had finished before the cut"
assert names.count("boot.copy") == 1 and names.count("http.request") == 1, names
PY
"$OTAHIL" flash info "$T/copycut/flash.bin" --board qemu-mps2-an385 >"$T/info" || die "flash info after the copy cut"
grep -qE '^APPLICATION .*image app-2\.0\.0-20260101\.1200.*<- boots' "$T/info" || die "APPLICATION does not hold v2 after the copy cut"
grep -q '^violations 0' "$T/info" || die "violations after the copy cut"

# HTTPS through the relay's TLS (the CA the device gives, the host name):
# the download passes; a server the CA did not sign is refused, and a
# known-bad variant that passes no CA accepts it (FAIL, as on the native target)
"$OTAHIL" run https-download --target qemu --board qemu-mps2-an385 --out "$T/tls" --reboot-delay-ms 200 |
  tee "$T/out" || die "run https-download --target qemu failed"
grep -q '^PASS https-download' "$T/out" || die "no PASS over HTTPS"
grep -q '"ev":"tls.connected",.*"verify":"peer".*"offload":true' "$T/tls/events.jsonl" || die "no verified TLS session"
"$OTAHIL" run https-untrusted-ca --target qemu --board qemu-mps2-an385 --out "$T/tlsbad" >"$T/out" ||
  die "run https-untrusted-ca --target qemu: $(head -1 "$T/out")"
grep -q '"ev":"tls.handshake_failed",.*certificate verify failed' "$T/tlsbad/events.jsonl" || die "no refused handshake"
"$OTAHIL" run https-untrusted-ca --target qemu --board qemu-mps2-an385 --port agent-no-cert-verify \
  --out "$T/tlsnv" >"$T/out"
[ $? -eq 1 ] || die "agent-no-cert-verify on QEMU did not FAIL: $(head -1 "$T/out")"
grep -q '"verify":"none"' "$T/tlsnv/events.jsonl" || die "agent-no-cert-verify verified the chain"

# a cut needs the QEMU target
"$OTAHIL" run update --board native --cut-at 340 --out "$T/nat" >"$T/out" 2>&1 && die "--cut-at on native accepted"
grep -q 'needs --target qemu' "$T/out" || die "no reason for refusing --cut-at on native"

# a guest that hangs: the watchdog ends the boot as a harness error
"$OTAHIL" image make --version app-1.0.0-20180101.1000 -o "$T/v1.bin" >/dev/null || die "image make"
"$OTAHIL" flash provision "$T/hang.bin" --board qemu-mps2-an385 --image "$T/v1.bin" >/dev/null || die "provision"
python3 - "$T/hang.elf" <<'PY' || die "cannot build the hanging firmware"
import struct, sys
code = b"\xfe\xe7"  # b .
# a minimal ELF32 for Cortex-M: vector table (SP, reset = 0x9 | thumb) then the loop at 0x8
text = struct.pack("<II", 0x20400000, 0x9) + code + b"\x00\x00"
ehdr_size, phdr_size = 52, 32
off = ehdr_size + phdr_size
ehdr = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8) + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, 0x9, ehdr_size, 0,
                                                                    0x5000000, ehdr_size, phdr_size, 1, 40, 0, 0)
phdr = struct.pack("<IIIIIIII", 1, off, 0, 0, len(text), len(text), 5, 4)
open(sys.argv[1], "wb").write(ehdr + phdr + text)
PY
"$bin/otahil-qemu" --board qemu-mps2-an385 --flash "$T/hang.bin" --broker 127.0.0.1:9 --firmware "$T/hang.elf" \
  --watchdog-ms 1500 --events "$T/hang.jsonl" 2>"$T/err"
rc=$?
[ "$rc" -eq 2 ] || die "a hung guest ended with $rc, not 2 (harness error)"
grep -q 'watchdog' "$T/err" || die "no watchdog reason: $(cat "$T/err")"
grep -q '"ev":"device.harness_error","what":"watchdog"' "$T/hang.jsonl" || die "no harness_error event"

# a guest that resets itself (SYSRESETREQ, as NVIC_SystemReset): QMP reports
# SHUTDOWN guest-reset, the reset is counted and the boot ends as a crash (11)
python3 - "$T/reset.elf" <<'PY' || die "cannot build the resetting firmware"
import struct, sys
# at 0x8: ldr r0,[pc,#4]; ldr r1,[pc,#8]; str r1,[r0]; b .  with AIRCR and VECTKEY|SYSRESETREQ
code = struct.pack("<HHHH", 0x4801, 0x4902, 0x6001, 0xe7fe) + struct.pack("<II", 0xE000ED0C, 0x05FA0004)
text = struct.pack("<II", 0x20400000, 0x9) + code
ehdr_size, phdr_size = 52, 32
off = ehdr_size + phdr_size
ehdr = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8) + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, 0x9, ehdr_size, 0,
                                                                    0x5000000, ehdr_size, phdr_size, 1, 40, 0, 0)
phdr = struct.pack("<IIIIIIII", 1, off, 0, 0, len(text), len(text), 5, 4)
open(sys.argv[1], "wb").write(ehdr + phdr + text)
PY
"$bin/otahil-qemu" --board qemu-mps2-an385 --flash "$T/hang.bin" --broker 127.0.0.1:9 --firmware "$T/reset.elf" \
  --watchdog-ms 3000 --events "$T/reset.jsonl" 2>"$T/err"
rc=$?
[ "$rc" -eq 11 ] || die "a guest reset ended with $rc, not 11 (crash): $(cat "$T/err")"
grep -q '"ev":"qemu.qmp","event":"SHUTDOWN","reason":"guest-reset"' "$T/reset.jsonl" || die "no QMP guest-reset"
grep -q '"ev":"qemu.exit","code":11,"resets":1,"shutdown":"guest-reset"' "$T/reset.jsonl" || die "reset not counted"

# bad input: one line naming what is wrong, exit 2
"$bin/otahil-qemu" --board qemu-mps2-an385 --flash "$T/hang.bin" --broker 127.0.0.1:9 --cut-at 0 2>"$T/err" && die "--cut-at 0 accepted"
grep -q "cut-at '0'" "$T/err" || die "no --cut-at error"
"$bin/otahil-qemu" --board native --flash "$T/hang.bin" --broker 127.0.0.1:9 2>"$T/err"; [ $? -eq 2 ] || die "native board accepted"
grep -q 'board native: the QEMU target needs flash_base' "$T/err" || die "no board error: $(cat "$T/err")"
"$bin/otahil-qemu" --board qemu-mps2-an385 --flash "$T/hang.bin" --broker 127.0.0.1:9 --coap http://127.0.0.1:9 \
  2>"$T/err"; [ $? -eq 2 ] || die "--coap http:// accepted"
grep -q "coap 'http://127.0.0.1:9': expected coap://HOST:PORT or coaps://HOST:PORT" "$T/err" || die "no --coap error"
"$bin/otahil-qemu" --board qemu-mps2-an385 --flash "$T/hang.bin" --broker 127.0.0.1:9 --coap-dl 2>"$T/err" &&
  die "--coap-dl without --coap accepted"
grep -q 'coap-dl needs --coap URL' "$T/err" || die "no --coap-dl error"
echo "qemu: ok"

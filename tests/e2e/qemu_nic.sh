# The QEMU target with the firmware's own IP stack (docs/qemu.md, "Own IP
# stack"): QEMU's -nic user on the board's LAN9118, the firmware's TCP/IP,
# MQTT client and HTTP download reaching the real broker and firmware server
# at 10.0.2.2, its events and each boot's end as console lines, no mailbox
# request. The update, a download dropped by the proxy and resumed with
# Range, a power cut during the download, a rollback, what this firmware
# cannot do (TLS: ERROR naming it; SKIP in a certification), and a short
# certification with --net user.
. "$(dirname "$0")/lib.bash"
command -v qemu-system-arm >/dev/null || { echo "SKIP: qemu-system-arm is not installed (scripts/install-deps.sh)"; exit 0; }
command -v arm-none-eabi-gcc >/dev/null || { echo "SKIP: arm-none-eabi-gcc is not installed (scripts/install-deps.sh)"; exit 0; }
bin=$(dirname "$OTAHIL")
[ -f "$bin/../qemu/nic-boot.elf" ] || die "no $bin/../qemu/nic-boot.elf (make qemu-fw)"

"$OTAHIL" run update --target qemu --net user --board qemu-mps2-an385 --out "$T/up" --reboot-delay-ms 200 |
  tee "$T/out" || die "run update --net user failed"
grep -q '^PASS update (board qemu-mps2-an385' "$T/out" || die "no PASS line"
grep -qE '^  PASS  image-exact' "$T/out" || die "image-exact did not pass"
expect_events "$T/up/events.jsonl" qemu.start boot.start net.up mqtt.connected device.inform job.pushed \
  http.request port.set_boot qemu.boot_end qemu.start boot.copy net.up mqtt.connected device.inform \
  job.succeeded
python3 - "$T/up/events.jsonl" <<'PY' || die "--net user: events"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
starts = [e for e in evs if e["ev"] == "qemu.start"]
assert len(starts) == 2 and all(e["net"] == "user" and e["firmware"].endswith("nic-boot.elf") for e in starts), starts
# the boot's end and the device's events came as console lines, not as mailbox requests
ends = [e for e in evs if e["ev"] == "qemu.boot_end"]
assert ends and ends[0]["code"] == 10 and ends[0]["reason"] == "hal_reboot", ends
assert not any(e["ev"] == "uart.line" and e["line"].startswith("@") for e in evs), "an @ line not parsed"
up = [e for e in evs if e["ev"] == "net.up"]
assert len(up) == 2 and up[0]["ip"] == "10.0.2.15", up
con = [e for e in evs if e["ev"] == "mqtt.connected"]
assert con and all(e["rc"] == 0 for e in con), con
# the URL the device was pushed names the host as the guest reaches it
push = [e for e in evs if e["ev"] == "job.pushed"]
assert push and "10.0.2.2" in json.dumps(push[0]), push
PY

# the proxy drops the download after 40000 bytes: the firmware's own TCP sees
# the close, the agent resumes with Range from its last checkpoint
"$OTAHIL" run resume-after-drop --target qemu --net user --board qemu-mps2-an385 --out "$T/drop" \
  --reboot-delay-ms 200 | tee "$T/out" || die "resume-after-drop --net user failed"
grep -q '^PASS resume-after-drop' "$T/out" || die "no PASS after the dropped download"
python3 - "$T/drop/events.jsonl" <<'PY' || die "no resume with Range after the drop"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
gets = [e["range_from"] for e in evs if e["ev"] == "agent.http_get"]
assert len(gets) == 2 and gets[0] == 0 and 0 < gets[1] <= 40000 and gets[1] % 16384 == 0, gets
PY

# a power cut (torn program) in the download after its first checkpoint
cat > "$T/retry.plan" <<'PLAN'
[plan]
name = qemu-cut-retry
description = The device loses power once during the download; the job has retries left.
expect = pass
retries = 2
PLAN
"$OTAHIL" run update --target qemu --net user --board qemu-mps2-an385 --cut-at 340:torn --plan "$T/retry.plan" \
  --out "$T/cut" --reboot-delay-ms 200 | tee "$T/out" || die "--net user with a power cut failed"
grep -q '^PASS update' "$T/out" || die "no PASS after the power cut"
python3 - "$T/cut/events.jsonl" <<'PY' || die "no cut at op 340 or no resume"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
cut = [e for e in evs if e["ev"] == "device.power_cut"]
assert len(cut) == 1 and cut[0]["where"] == "flash op 340", cut
gets = [e["range_from"] for e in evs if e["ev"] == "agent.http_get"]
assert len(gets) == 2 and gets[0] == 0 and gets[1] > 0, gets
PY

"$OTAHIL" run rollback --target qemu --net user --board qemu-mps2-an385-ab --out "$T/rb" --reboot-delay-ms 200 |
  tee "$T/out" || die "rollback --net user failed"
grep -q '^PASS rollback' "$T/out" || die "no PASS rollback"
expect_events "$T/rb/events.jsonl" job.pushed boot.switch app.crash boot.rollback device.inform job.failed

# what this firmware has no code for: TLS is the harness's ERROR, naming it
set +e
"$OTAHIL" run https-download --target qemu --net user --board qemu-mps2-an385 --out "$T/tls" >"$T/out" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || die "https-download --net user: exit $rc, not 2"
grep -q 'no TLS' "$T/out" || die "no reason for refusing TLS with --net user"
set +e
"$OTAHIL" run update --net user --board native --out "$T/nat" >"$T/out" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && grep -q 'needs --target qemu' "$T/out" || die "--net user on native accepted (exit $rc)"

# a known-bad variant built with its own IP stack fails as it does over the relay
# (agent-ignores-status writes the 400's body to flash and hands it to the bootloader)
set +e
"$OTAHIL" run expired-url-400 --target qemu --net user --board qemu-mps2-an385 --port agent-ignores-status --out "$T/bad" >"$T/out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$T/out"; die "agent-ignores-status --net user: exit $rc, not 1 (FAIL)"; }
grep -q '"firmware":"[^"]*agent-ignores-status-nic-boot.elf"' "$T/bad/events.jsonl" ||
  die "the variant's own-stack programs were not booted"

# a firmware seen only from outside (build/qemu/quiet-nic-*: the same programs built to
# report nothing, write no heartbeat and reboot by a system reset, as a vendor's whole
# firmware would): judged by what the cloud, the firmware server and the flash saw
quiet="$bin/../qemu/quiet-nic-boot.elf"
[ -f "$quiet" ] || die "no $quiet (make qemu-fw)"
"$OTAHIL" run update --target qemu --net user --board qemu-mps2-an385 --port "$quiet" --out "$T/bb" \
  --reboot-delay-ms 200 | tee "$T/out" || die "the black-box update failed"
grep -q '^PASS update .*(seen from outside: the firmware reports no events of its own)' "$T/out" ||
  die "no PASS judged from outside"
grep -qE '^  PASS  image-exact' "$T/out" || die "black box: image-exact did not pass"
grep -qE '^  SKIP  writes-are-file +no device events' "$T/out" || die "black box: a device-event check not SKIP"
python3 - "$T/bb/events.jsonl" <<'PY' || die "black box: events"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert not [e for e in evs if e["src"] in ("agent", "port", "boot", "os")], "the quiet firmware reported events"
exits = [e for e in evs if e["ev"] == "qemu.exit"]
assert exits[0]["resets"] == 1 and exits[0]["shutdown"] == "guest-reset" and exits[0]["code"] == 10, exits
assert [e["status"] for e in evs if e["ev"] == "device.exit"][0] == "reboot"
assert any(e["ev"] == "device.inform" and e["version"].startswith("app-2") for e in evs)
PY
"$OTAHIL" run rollback --target qemu --net user --board qemu-mps2-an385-ab --port "$quiet" --out "$T/bbrb" \
  --reboot-delay-ms 200 | tee "$T/out" || die "the black-box rollback failed"
grep -q '^PASS rollback .*(seen from outside' "$T/out" || die "no black-box PASS rollback"
# ... and as a whole firmware (--firmware): its ELF booted as it is, its chip programmed from
# a flash image (the black-box run's starting flash: v1 in APPLICATION), its own update file
# served with the version it must report; nothing of otahil's provisioned or checked in it
head -c 4194304 "$T/bb/flash-before.bin" > "$T/chip.bin"
"$OTAHIL" run resume-after-drop --target qemu --net user --board qemu-mps2-an385 --firmware "$quiet" \
  --flash-image "$T/chip.bin" --image "$T/bb/fw-target.bin" --image-version app-2.0.0-20260101.1200 \
  --out "$T/whole" --reboot-delay-ms 200 | tee "$T/out" || die "the whole firmware's update failed"
grep -q '^PASS resume-after-drop .*(seen from outside: a whole firmware' "$T/out" || die "no whole-firmware PASS"
grep -q 'settings-kept' "$T/out" && die "a whole firmware's flash was checked for otahil's settings pattern"
grep -q '"range":"bytes=' "$T/whole/events.jsonl" || die "the whole firmware did not resume with Range"
set +e
"$OTAHIL" run update --target qemu --net user --board qemu-mps2-an385 --firmware "$quiet" \
  --flash-image "$T/chip.bin" --image "$T/bb/fw-target.bin" --image-version app-9.9.9 --out "$T/whole2" \
  --reboot-delay-ms 200 >"$T/out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'expected app-9.9.9' "$T/out" || { cat "$T/out"; die "a wrong version was not a FAIL"; }
set +e
"$OTAHIL" run update --target qemu --net user --board qemu-mps2-an385 --firmware "$quiet" --out "$T/whole3" \
  >"$T/out" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && grep -q 'needs --image FILE and --image-version' "$T/out" || die "--firmware without --image accepted"
"$OTAHIL" certify --target qemu --net user --port "$quiet" --only OTA-DL-001,OTA-BRK-001,OTA-PWR-001 \
  --out "$T/bbcert" >"$T/out" 2>&1 || { cat "$T/out"; die "certify of the black box"; }
grep -q '^PASS  OTA-DL-001 ' "$T/bbcert/summary.txt" && grep -q '^PASS  OTA-BRK-001 ' "$T/bbcert/summary.txt" ||
  { cat "$T/bbcert/summary.txt"; die "black box: update cases"; }
grep -q '^SKIP  OTA-PWR-001 .*no events of its own' "$T/bbcert/summary.txt" ||
  { cat "$T/bbcert/summary.txt"; die "black box: a power-cut sweep not SKIP"; }

# a certification with --net user: the MQTT+HTTP cases PASS, the TLS and CoAP
# rows SKIP with the reason; the reports say the network
"$OTAHIL" certify --target qemu --net user --only OTA-DL-001,OTA-BRK-001 --out "$T/cert" --jobs 2 \
  >"$T/out" 2>&1 || { cat "$T/out"; die "certify --net user failed"; }
python3 - "$T/cert/results.json" <<'PY' || die "certify --net user: results"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["target"] == "qemu" and r["net"] == "user", (r["target"], r.get("net"))
rows = {(c["id"], c.get("transport") if c.get("matrix") else None): c for c in r["cases"]}
assert rows[("OTA-DL-001", None)]["verdict"] == "PASS", rows[("OTA-DL-001", None)]
assert rows[("OTA-BRK-001", None)]["verdict"] == "PASS", rows[("OTA-BRK-001", None)]
skipped = [c for c in r["cases"] if c.get("matrix")]
assert skipped and all(c["verdict"] == "SKIP" and "--net user" in c["reason"] for c in skipped), skipped
PY
echo "qemu_nic: OK"

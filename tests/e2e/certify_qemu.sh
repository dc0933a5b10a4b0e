# otahil certify --target qemu (docs/qemu.md, "Certifying on QEMU"): the
# reference port and known-bad variants certified on both targets over the
# same cases, a power-cut sweep among them; the verdicts must be the same
# case by case, results.json and the summary must name the target, the cases
# the firmware cannot run are SKIP with the reason, and a failing case's
# repro folder replays on QEMU.
. "$(dirname "$0")/lib.bash"
command -v qemu-system-arm >/dev/null || { echo "SKIP: qemu-system-arm is not installed (scripts/install-deps.sh)"; exit 0; }
command -v arm-none-eabi-gcc >/dev/null || { echo "SKIP: arm-none-eabi-gcc is not installed (scripts/install-deps.sh)"; exit 0; }
bin=$(dirname "$OTAHIL")
for p in agent-ignores-status copy-not-restartable mut-accepts-same-version mut-finish-after-digest-mismatch; do
  [ -f "$bin/../qemu/$p.elf" ] || die "no $bin/../qemu/$p.elf (make qemu-fw)"
done

# the update, a refused push, a dropped download resumed, a bad digest, the
# 400 error body, an HTTPS server the device's CA did not sign (TLS through
# the relay on QEMU), a power-cut sweep (copy-not-restartable fails it)
only=OTA-DL-001,OTA-VER-001,OTA-DL-002,OTA-BRK-001,OTA-INT-001,OTA-SEC-002,OTA-PWR-001
certify() { # PORT TARGET
  local board=native; [ "$2" = qemu ] && board=qemu-mps2-an385
  "$OTAHIL" certify --port "$1" --target "$2" --board "$board" --only "$only" --stride 40 --jobs 2 \
    --out "$T/$1-$2" >"$T/$1-$2.out" 2>&1
  echo $?
}
for p in reference agent-ignores-status copy-not-restartable mut-accepts-same-version mut-finish-after-digest-mismatch; do
  rn=$(certify "$p" native)
  rq=$(certify "$p" qemu)
  [ "$rn" = "$rq" ] || { tail -n 20 "$T/$p-qemu.out"; die "$p: exit $rn on native, $rq on qemu"; }
  python3 - "$T/$p-native/results.json" "$T/$p-qemu/results.json" "$p" <<'PY' || die "$p: verdicts differ"
import json, sys
n, q, port = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
assert n["target"] == "native" and q["target"] == "qemu", (n["target"], q["target"])
# a row per case, and per transport for the transport matrix: the same verdict on
# every row, the CoAP rows included (the relay runs the firmware's CoAP calls)
key = lambda c: c["id"] + ("@" + c["transport"] if c["matrix"] else "")
vn = {key(c): c["verdict"] for c in n["cases"]}
vq = {key(c): c["verdict"] for c in q["cases"]}
assert len([k for k in vn if "@" not in k]) == 7 and vn == vq, (port, vn, vq)
coap = [k for k in vq if "@coap" in k]
assert coap and all(vq[k] != "SKIP" for k in coap), (port, coap, vq)
assert not [c for c in q["cases"] if "not on the QEMU target yet" in c["reason"]], port
print(port, vn)
want = {"reference": {}, "agent-ignores-status": {"OTA-DL-002": "FAIL"},
        "copy-not-restartable": {"OTA-PWR-001": "FAIL"},
        "mut-accepts-same-version": {"OTA-VER-001": "FAIL"},
        "mut-finish-after-digest-mismatch": {"OTA-INT-001": "FAIL"}}[port]
for cid, v in vq.items():
    assert v == want.get(cid.split("@")[0], "PASS"), (port, cid, v)
sweep = [c for c in q["cases"] if c["id"] == "OTA-PWR-001"][0]
assert "on QEMU" in sweep["reason"] and "every 40" in sweep["reason"] or sweep["verdict"] == "FAIL", sweep
PY
  grep -q "target qemu" "$T/$p-qemu/summary.txt" || die "$p: the summary does not name the target"
done
# the failing sweep on QEMU names its cut point and its replay
grep -q 'replay: otahil run update --target qemu .* --cut-at [0-9]*:before' \
  "$T/copy-not-restartable-qemu/runs/OTA-PWR-001/sweep.txt" || die "no replay line in the QEMU sweep"
grep -q '^target = qemu' "$T/copy-not-restartable-qemu/repro/OTA-PWR-001/repro.ini" || die "repro.ini: no target"
# otahil repro replays that cut point on QEMU, with the same verdict
"$OTAHIL" repro "$T/copy-not-restartable-qemu/repro/OTA-PWR-001" --out "$T/rerun" >"$T/repro.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { tail "$T/repro.out"; die "repro of the failing QEMU cut point ended $rc, not 1"; }
grep -q 'replaying cut point [0-9]*:before on QEMU' "$T/repro.out" || die "repro did not replay the cut point"
grep -q '"ev":"qemu.start"' "$T/rerun/events.jsonl" || die "the repro did not boot QEMU"
grep -q '"ev":"device.power_cut"' "$T/rerun/events.jsonl" || die "the repro did not cut the power"

# what the QEMU target cannot run is SKIP with the reason, never the native verdict
# (a TLS heap budget); the slow-flash model runs there (PASS)
"$OTAHIL" certify --target qemu --only OTA-FIELD-002,OTA-FIELD-001 --out "$T/skip" >"$T/skip.out" 2>&1 ||
  die "certify of the TLS-heap and slow-flash cases: $(tail -3 "$T/skip.out")"
grep -q 'SKIP  OTA-FIELD-002 .*not on the QEMU target: TLS runs in its relay' "$T/skip/summary.txt" ||
  die "no TLS-heap skip reason"
grep -q 'PASS  OTA-FIELD-001 ' "$T/skip/summary.txt" || die "the slow-flash case did not pass on QEMU"
grep -q '"ev":"device.flash_slow","delay_us":5000' "$T/skip/runs/OTA-FIELD-001/events.jsonl" ||
  die "the slow flash was not given to the QEMU boots"
grep -q 'board qemu-mps2-an385, target qemu' "$T/skip.out" || die "--target qemu did not default the board"
# bad input
"$OTAHIL" certify --target riscv --only OTA-DL-001 --out "$T/bad" 2>"$T/err" && die "--target riscv accepted"
grep -q "target 'riscv': expected native or qemu" "$T/err" || die "no --target error: $(cat "$T/err")"
"$OTAHIL" certify --target qemu --port "$bin/otahil-dut" --only OTA-DL-001 --out "$T/bad" 2>"$T/err" &&
  die "a device binary accepted on QEMU"
grep -q 'a device binary has no QEMU build' "$T/err" || die "no device-binary error: $(cat "$T/err")"
echo "certify_qemu: ok"

# Spec §12 #8 and #11: the cloud serves only OTA-format files (the AliOS footer of §6.2),
# never a serial image (#904/#958: *.bin flashed where *.ota.bin belonged) or a badly
# generated bin (#11: the mk3080 tool on Linux).
#   otahil image check: 0 for an OTA image; 1 naming what is wrong for the serial image
#     (no footer), a wrong image_size and a wrong MD5; 2 for a file it cannot read.
#   otahil push of the serial image to a running `otahil cloud`: refused, exit 2, one line
#     naming the file and what to serve instead; --unchecked serves it and the cloud logs
#     firmware.unchecked; a good image is accepted.
#   otahil run no-footer (the #850 scenario) still serves its file without footer, unchecked.
. "$(dirname "$0")/lib.bash"
cpid=
trap '[ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null; cleanup' EXIT

"$OTAHIL" image make --version app-2.0.0-20260101.1200 -o "$T/v2.ota.bin" >/dev/null || die "image make"
head -c -28 "$T/v2.ota.bin" >"$T/v2.bin"                  # the serial image: no footer
python3 - "$T" <<'PY' || die "fixtures"
import struct, sys
t = sys.argv[1]
d = bytearray(open(t + "/v2.ota.bin", "rb").read())
s = bytearray(d); struct.pack_into("<I", s, len(s) - 24, len(s) - 28 - 16)   # footer image_size off
open(t + "/size.bin", "wb").write(s)
m = bytearray(d); m[1000] ^= 0x10                                           # payload not the one hashed
open(t + "/md5.bin", "wb").write(m)
PY

# ---- otahil image check ----
check() { # FILE WANT_RC WANT_TEXT
  "$OTAHIL" image check "$1" >"$T/check.out" 2>&1; local rc=$?
  [ "$rc" -eq "$2" ] && grep -q -- "$3" "$T/check.out" || { cat "$T/check.out"; die "image check $1: exit $rc"; }
}
check "$T/v2.ota.bin" 0 "^ok   $T/v2.ota.bin: AliOS OTA image: "
check "$T/v2.bin" 1 "^FAIL $T/v2.bin: no AliOS OTA footer (last 28 bytes: magic 0x"
check "$T/size.bin" 1 "footer says image_size .*, but .* bytes come before it"
check "$T/md5.bin" 1 "(a badly generated OTA bin)"
check "$T/none.bin" 2 "none.bin: No such file"
[ "$(wc -l <"$T/check.out")" -eq 1 ] || die "image check of a missing file: not one line"

# ---- otahil push to a running cloud ----
"$OTAHIL" cloud --workdir "$T/cloud" >"$T/cloud.out" 2>"$T/cloud.err" &
cpid=$!
for _ in $(seq 1 200); do [ -s "$T/cloud/cloud.json" ] && break; sleep 0.05; done
[ -s "$T/cloud/cloud.json" ] || { cat "$T/cloud.err"; die "the cloud did not start"; }

"$OTAHIL" push --workdir "$T/cloud" --image "$T/v2.bin" >"$T/push.out" 2>"$T/push.err"; rc=$?
[ "$rc" -eq 2 ] || { cat "$T/push.out" "$T/push.err"; die "push of the serial image: exit $rc, expected 2"; }
[ "$(wc -l <"$T/push.err")" -eq 1 ] || { cat "$T/push.err"; die "push refusal: not one line"; }
grep -q "^otahil push: the cloud refused the firmware: $T/v2.bin: no AliOS OTA footer .*; serve the \*\.ota\.bin, not the serial image\$" \
  "$T/push.err" || { cat "$T/push.err"; die "push refusal: message"; }
! grep -q '^job ' "$T/push.out" || die "a job was created for a refused file"

"$OTAHIL" push --workdir "$T/cloud" --image "$T/md5.bin" >/dev/null 2>"$T/push.err"; rc=$?
[ "$rc" -eq 2 ] && grep -q "badly generated OTA bin" "$T/push.err" || { cat "$T/push.err"; die "push of a bad MD5: exit $rc"; }

"$OTAHIL" push --workdir "$T/cloud" --image "$T/v2.ota.bin" >"$T/push.out" 2>&1 \
  || { cat "$T/push.out"; die "push of the OTA image refused"; }
grep -q '^firmware 1: app-2.0.0-20260101.1200 ' "$T/push.out" || { cat "$T/push.out"; die "push: no firmware line"; }

"$OTAHIL" push --workdir "$T/cloud" --image "$T/v2.bin" --unchecked >"$T/push.out" 2>&1 \
  || { cat "$T/push.out"; die "push --unchecked refused"; }
grep -q '^firmware 2: ' "$T/push.out" || { cat "$T/push.out"; die "push --unchecked: no firmware line"; }

kill "$cpid"; wait "$cpid"; rc=$?; cpid=
[ "$rc" -eq 0 ] || die "otahil cloud: exit $rc after SIGTERM"
python3 - "$T/cloud/events.jsonl" "$T" <<'PY' || die "cloud events"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
t = sys.argv[2]
ref = [e for e in evs if e["ev"] == "firmware.refused"]
assert [e["source"] for e in ref] == [t + "/v2.bin", t + "/md5.bin"], ref
assert "no AliOS OTA footer" in ref[0]["error"], ref
added = [e for e in evs if e["ev"] == "firmware.added"]
assert [e["id"] for e in added] == [1, 2], added
un = [e for e in evs if e["ev"] == "firmware.unchecked"]
assert len(un) == 1 and un[0]["id"] == 2 and un[0]["format_ok"] is False, un
assert un[0]["source"] == t + "/v2.bin" and "no AliOS OTA footer" in un[0]["check"], un
PY

# ---- the no-footer scenario (#850) serves its file unchecked, and the device refuses it ----
"$OTAHIL" run no-footer --out "$T/nf" --reboot-delay-ms 100 --timeout 60 >"$T/nf.out" 2>&1; rc=$?
[ "$rc" -eq 0 ] || { cat "$T/nf.out"; die "no-footer: exit $rc, expected 0 (PASS: it fails cleanly, as the plan expects)"; }
grep -q 'step -8' "$T/nf.out" || { cat "$T/nf.out"; die "no-footer: not step -8"; }
python3 - "$T/nf/events.jsonl" <<'PY' || die "no-footer events"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
un = [e for e in evs if e["ev"] == "firmware.unchecked"]
assert len(un) == 1 and un[0]["format_ok"] is False and "no AliOS OTA footer" in un[0]["check"], un
assert not [e for e in evs if e["ev"] == "firmware.refused"]
PY
# and a run without the plan key checks its file and logs nothing unchecked
"$OTAHIL" run update --out "$T/up" --reboot-delay-ms 100 --timeout 60 >"$T/up.out" 2>&1 \
  || { cat "$T/up.out"; die "update: not PASS"; }
! grep -q '"ev":"firmware.unchecked"' "$T/up/events.jsonl" || die "update: firmware served unchecked"
exit 0

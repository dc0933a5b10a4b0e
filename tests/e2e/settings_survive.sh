# Spec §12 #10 (AliOS wiki Q&A): "after OTA the Wi-Fi SSID and password are lost": the
# partitions overlapped and the update erased the settings.
#   static: otahil board check lists every overlap: none on native, esp8266, developerkit;
#     mk3060's PARAMETER_4 inside the bootloader is declared, a warning (exit 0); undeclared
#     overlaps are errors (exit 1), each naming FILE:LINE and what an update destroys.
#   dynamic: otahil run plants wifi_ssid / wifi_passwd in KV and a pattern in the partitions
#     an update must not touch, and checks them after the update: intact on every shipped
#     board; on a board whose KV lies in the tail of OTA_TEMP (a declared overlap, so it
#     loads) the update itself succeeds and the run FAILs naming the lost key.
. "$(dirname "$0")/lib.bash"
B=$(cd "$(dirname "$0")/../.." && pwd)/boards

# ---- otahil board check ----
for b in native esp8266 developerkit; do
  "$OTAHIL" board check "$b" >"$T/$b.chk" 2>&1 || { cat "$T/$b.chk"; die "board check $b: exit $?"; }
  grep -q "^$b: no overlapping partitions\$" "$T/$b.chk" || { cat "$T/$b.chk"; die "board check $b"; }
  grep -Eq '^PARAMETER_2 +0x[0-9A-F]{8} .* KV store' "$T/$b.chk" || { cat "$T/$b.chk"; die "$b: KV not shown"; }
done
"$OTAHIL" board check mk3060 >"$T/mk.chk" 2>&1 || { cat "$T/mk.chk"; die "board check mk3060: exit $?"; }
grep -q "^warning: .*mk3060.ini:[0-9]*: PARAMETER_4 (0xd000..0xe000) overlaps BOOTLOADER (0x0..0x10000) on 0xd000..0xe000, declared ('overlaps = BOOTLOADER'): a write or erase of PARAMETER_4 changes BOOTLOADER's bytes" \
  "$T/mk.chk" || { cat "$T/mk.chk"; die "mk3060: no warning for PARAMETER_4"; }
grep -q '^mk3060: 1 overlap: 0 undeclared (error), 1 declared (warning)$' "$T/mk.chk" || die "mk3060: summary"
grep -Eq '^BOOTLOADER .*<- overlap \(declared\)$' "$T/mk.chk" || die "mk3060: table mark"

# two undeclared overlaps: PARAMETER_3 over the KV store, PARAMETER_4 over APPLICATION
sed -e '/^\[partition PARAMETER_3\]/,/^description/s/^start = .*/start = 0x12000/' \
    -e '/^\[partition PARAMETER_4\]/,/^description/s/^start = .*/start = 0x20000/' \
    "$B/native.ini" >"$T/bad.ini"
"$OTAHIL" board check "$T/bad.ini" >"$T/bad.chk" 2>&1; rc=$?
[ "$rc" -eq 1 ] || { cat "$T/bad.chk"; die "undeclared overlaps: exit $rc, expected 1"; }
[ "$(grep -c '^error: ' "$T/bad.chk")" -eq 2 ] || { cat "$T/bad.chk"; die "undeclared overlaps: not two errors"; }
grep -q "^error: $T/bad.ini:[0-9]*: PARAMETER_3 (0x12000..0x13000) overlaps PARAMETER_2 (0x11000..0x13000) on 0x12000..0x13000, undeclared: an update writes PARAMETER_2, so it can destroy what PARAMETER_3 holds (spec §12 #10: partitions must not overlap)\$" \
  "$T/bad.chk" || { cat "$T/bad.chk"; die "undeclared overlap with KV: message"; }
grep -q "APPLICATION (0x20000..0x110000) overlaps PARAMETER_4 (0x20000..0x21000)" "$T/bad.chk" || die "undeclared overlap with APPLICATION"
grep -q '^native: 2 overlaps: 2 undeclared (error), 0 declared (warning)$' "$T/bad.chk" || die "bad.ini: summary"
# every other command still refuses such a board with the loader's one line
"$OTAHIL" flash info "$T/none.bin" --board "$T/bad.ini" 2>"$T/err"; rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "declare 'overlaps = " "$T/err" \
  || { cat "$T/err"; die "flash info with overlapping partitions: exit $rc"; }
# a bad board file, an unknown board, no board: one line, exit 2
printf '[board]\nname = x\nspeed = 3\n' >"$T/syntax.ini"
for args in "$T/syntax.ini" nosuchboard; do
  "$OTAHIL" board check "$args" >"$T/out" 2>"$T/err"; rc=$?
  [ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && [ ! -s "$T/out" ] || { cat "$T/err"; die "board check $args: exit $rc"; }
done
grep -q "syntax.ini:3: unknown key 'speed'" <("$OTAHIL" board check "$T/syntax.ini" 2>&1) || die "syntax.ini: message"
"$OTAHIL" board check 2>"$T/err"; [ $? -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] || die "board check without a board"

# ---- the settings survive an update on every shipped board ----
for b in native mk3060 esp8266 developerkit; do
  "$OTAHIL" run update --board "$b" --out "$T/r-$b" --reboot-delay-ms 100 --timeout 60 >"$T/r-$b.out" 2>&1 \
    || { cat "$T/r-$b.out"; die "$b: update not PASS"; }
done
python3 - "$T" <<'PY' || die "run.sentinel events"
import json, sys
want = {"native": ["PARAMETER_3", "PARAMETER_4"], "mk3060": ["PARAMETER_4", "RECOVERY"],
        "esp8266": ["PARAMETER_3", "PARAMETER_4"],
        "developerkit": ["BOOTLOADER", "PARAMETER_3", "PARAMETER_4", "SPIFFS"]}
for b, parts in want.items():
    evs = [json.loads(l) for l in open("%s/r-%s/events.jsonl" % (sys.argv[1], b))]
    s = [e for e in evs if e["ev"] == "run.sentinel"]
    assert len(s) == 1 and s[0]["ok"] is True and s[0]["lost"] == [], (b, s)
    assert s[0]["kv"] == ["wifi_ssid", "wifi_passwd"] and s[0]["parts"] == parts, (b, s)
    v = [e for e in evs if e["ev"] == "run.verdict"]
    assert v and v[0]["verdict"] == "PASS" and s[0]["seq"] < v[0]["seq"], (b, v)
PY

# ---- a board whose KV store lies in the tail of OTA_TEMP: the field failure ----
sed -e '/^\[partition PARAMETER_2\]/,/^description/{s/^start = .*/start = 0x1FE000/;s/^\(description = .*\)/\1\noverlaps = OTA_TEMP/}' \
    "$B/native.ini" >"$T/kv-in-ota.ini"
"$OTAHIL" board check "$T/kv-in-ota.ini" >"$T/kv.chk" 2>&1 || { cat "$T/kv.chk"; die "kv-in-ota: board check exit $?"; }
grep -q "^warning: .*PARAMETER_2 (0x1fe000..0x200000) overlaps OTA_TEMP .* declared ('overlaps = OTA_TEMP'): an update writes OTA_TEMP, so it can erase the settings in PARAMETER_2 (the KV store)" \
  "$T/kv.chk" || { cat "$T/kv.chk"; die "kv-in-ota: warning"; }
"$OTAHIL" run update --board "$T/kv-in-ota.ini" --out "$T/kv" --reboot-delay-ms 100 --timeout 60 >"$T/kv.out" 2>&1; rc=$?
[ "$rc" -eq 1 ] || { cat "$T/kv.out"; die "kv-in-ota: exit $rc, expected 1"; }
grep -q '^FAIL update .*: KV key wifi_ssid lost after the update (spec §12 #10)' "$T/kv.out" \
  || { cat "$T/kv.out"; die "kv-in-ota: FAIL line"; }
python3 - "$T/kv/events.jsonl" <<'PY' || die "kv-in-ota: events"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert [e for e in evs if e["ev"] == "job.succeeded"], "the update itself should succeed"
s = [e for e in evs if e["ev"] == "run.sentinel"]
assert len(s) == 1 and s[0]["ok"] is False and s[0]["lost"][:2] == ["wifi_ssid", "wifi_passwd"], s
assert [e["verdict"] for e in evs if e["ev"] == "run.verdict"] == ["FAIL"]
PY
exit 0

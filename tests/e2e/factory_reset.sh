# Spec §12 #6 (AliOS-Things#1068): after an OTA, an older image flashed over serial still
# booted the OTA'd image, because a serial flash leaves the boot selection alone.
#   pingpong (esp8266): after v1 -> v2, `flash factory-reset --app-only` with an older image
#     writes APPLICATION and keeps the boot record: v2 in OTA_TEMP still boots (the field
#     failure). A factory reset erases the boot record (PARAMETER_1): the re-flashed image
#     boots, the KV store (the settings) is kept, or erased with --erase-kv.
#   copy (mk3060): the bootloader always boots APPLICATION, so both re-flash the image that
#     boots; only the factory reset clears the record.
# Bad options and files are one line and exit 2, and leave the flash file as it was.
. "$(dirname "$0")/lib.bash"
V2='app-2\.0\.0-20260101\.1200'
OLD=app-1.0.0-20180202.0800   # the older image the factory flashes (not the run's own v1)

"$OTAHIL" image make --version "$OLD" --size 40000 --seed 9 -o "$T/old.bin" >/dev/null || die "image make"

# info FILE BOARD: flash info into FILE.info; no flash rule broken
info() {
  "$OTAHIL" flash info "$1" --board "$2" >"$1.info" || { cat "$1.info"; die "$1: flash info"; }
  grep -q '^violations 0' "$1.info" || { cat "$1.info"; die "$1: violations"; }
}
# boots FILE PART VERSION: PART holds VERSION and boots
boots() {
  grep -Eq "^$2 .*image $3 .*<- boots" "$1.info" || { cat "$1.info"; die "$1: $2 $3 does not boot"; }
}
# kv_dump FILE BOARD: the KV partitions' bytes
kv_dump() {
  local p
  for p in $("$OTAHIL" board check "$2" | awk '/^PARAMETER_[0-9] .* KV store/ {print $1}'); do
    "$OTAHIL" flash dump "$1" --board "$2" --part "$p" || die "$1: flash dump $p"
  done
}

for board in esp8266 mk3060; do
  "$OTAHIL" run update --board "$board" --out "$T/$board" --reboot-delay-ms 100 --timeout 60 \
    >"$T/$board.out" 2>&1 || { cat "$T/$board.out"; die "$board: update not PASS"; }
  info "$T/$board/flash.bin" "$board"
  grep -q '"ev":"run.sentinel","ok":true' "$T/$board/events.jsonl" || die "$board: no settings in KV to keep"
  kv_dump "$T/$board/flash.bin" "$board" >"$T/$board.kv"
  [ -s "$T/$board.kv" ] || die "$board: no KV partition found"

  # --app-only: what a serial flash of the application does
  cp "$T/$board/flash.bin" "$T/$board-app.bin"
  "$OTAHIL" flash factory-reset "$T/$board-app.bin" --board "$board" --image "$T/old.bin" --app-only \
    >"$T/$board-app.out" || die "$board: --app-only failed"
  grep -q "only; the boot record (PARAMETER_1) and the KV store .* kept" "$T/$board-app.out" \
    || { cat "$T/$board-app.out"; die "$board: --app-only line"; }
  info "$T/$board-app.bin" "$board"
  grep -Eq '^PARAMETER_1 .*boot record ' "$T/$board-app.bin.info" || die "$board: --app-only lost the boot record"
  grep -Eq "^APPLICATION .*image ${OLD//./\\.}" "$T/$board-app.bin.info" || die "$board: APPLICATION not re-flashed"

  # the factory reset
  cp "$T/$board/flash.bin" "$T/$board-reset.bin"
  "$OTAHIL" flash factory-reset "$T/$board-reset.bin" --board "$board" --image "$T/old.bin" \
    >"$T/$board-reset.out" || die "$board: factory-reset failed"
  grep -q "boot record (PARAMETER_1) erased, KV store (.*) kept" "$T/$board-reset.out" \
    || { cat "$T/$board-reset.out"; die "$board: factory-reset line"; }
  grep -q "^boots    APPLICATION: $OLD\$" "$T/$board-reset.out" || { cat "$T/$board-reset.out"; die "$board: boots line"; }
  info "$T/$board-reset.bin" "$board"
  boots "$T/$board-reset.bin" APPLICATION "${OLD//./\\.}"
  grep -Eq '^PARAMETER_1 .*no boot record' "$T/$board-reset.bin.info" || die "$board: boot record not erased"
  kv_dump "$T/$board-reset.bin" "$board" | cmp -s - "$T/$board.kv" || die "$board: KV changed by a factory reset"
  ! ls "$T" | grep -q '\.tmp\.' || die "$board: temporary file left"

  # --erase-kv: the settings go too
  cp "$T/$board/flash.bin" "$T/$board-kv.bin"
  "$OTAHIL" flash factory-reset "$T/$board-kv.bin" --board "$board" --image "$T/old.bin" --erase-kv \
    >"$T/$board-kv.out" || die "$board: --erase-kv failed"
  grep -q "KV store (.*) erased" "$T/$board-kv.out" || die "$board: --erase-kv line"
  info "$T/$board-kv.bin" "$board"
  boots "$T/$board-kv.bin" APPLICATION "${OLD//./\\.}"
  ! kv_dump "$T/$board-kv.bin" "$board" | grep -v '^[0-9A-F]* \( ff\)\{16\}  |\.*|$' | grep -q . \
    || die "$board: KV not erased"
done

# pingpong: --app-only is the field failure, v2 still boots from OTA_TEMP
boots "$T/esp8266-app.bin" OTA_TEMP "$V2"
grep -q "^boots    OTA_TEMP: app-2.0.0-20260101.1200 (the boot record in PARAMETER_1 selects it)" \
  "$T/esp8266-app.out" || { cat "$T/esp8266-app.out"; die "esp8266: --app-only boots line"; }
# copy: the bootloader boots APPLICATION whatever the record says
boots "$T/mk3060-app.bin" APPLICATION "${OLD//./\\.}"

# ---- bad input: one line, exit 2, the flash file unchanged ----
f="$T/mk3060/flash.bin"
cp "$f" "$T/orig.bin"
one_line_2() { # NAME WANT_TEXT CMD...
  local name=$1 want=$2; shift 2
  "$@" >"$T/bad.out" 2>"$T/bad.err"; local rc=$?
  [ "$rc" -eq 2 ] && [ "$(wc -l <"$T/bad.err")" -eq 1 ] && grep -q -- "$want" "$T/bad.err" \
    || { cat "$T/bad.err"; die "$name: exit $rc, expected 2 and one line with '$want'"; }
  cmp -s "$f" "$T/orig.bin" || die "$name: the flash file changed"
}
one_line_2 "no --image" "factory-reset: --image is required" \
  "$OTAHIL" flash factory-reset "$f" --board mk3060
one_line_2 "both flags" "--app-only and --erase-kv do not go together" \
  "$OTAHIL" flash factory-reset "$f" --board mk3060 --image "$T/old.bin" --app-only --erase-kv
one_line_2 "flag on info" "flash info: --erase-kv only applies to factory-reset" \
  "$OTAHIL" flash info "$f" --board mk3060 --erase-kv
head -c 3000 "$T/old.bin" >"$T/trunc.bin"
one_line_2 "truncated image" "trunc.bin: not a valid otahil image" \
  "$OTAHIL" flash factory-reset "$f" --board mk3060 --image "$T/trunc.bin"
one_line_2 "other board" "not a flash file of board developerkit" \
  "$OTAHIL" flash factory-reset "$f" --board developerkit --image "$T/old.bin"
one_line_2 "missing flash" "none.bin: No such file" \
  "$OTAHIL" flash factory-reset "$T/none.bin" --board mk3060 --image "$T/old.bin"
[ ! -e "$T/none.bin" ] || die "missing flash file: created"
exit 0

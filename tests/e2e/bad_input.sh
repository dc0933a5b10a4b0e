# Malformed board files and images are refused with a one-line error and exit 2.
. "$(dirname "$0")/lib.bash"
cp "$OTAHIL_BOARDS/native.ini" "$T/bad.ini"
printf '\n[partition OTA_TEMP2]\nstart = 0x0\nlength = 0x1000\noptions = read\n' >> "$T/bad.ini"
"$OTAHIL" flash info "$T/none.bin" --board "$T/bad.ini" 2>"$T/err"; rc=$?
[ "$rc" -eq 2 ] || die "bad board: exit $rc"
[ "$(wc -l < "$T/err")" -eq 1 ] || die "bad board: not one line: $(cat "$T/err")"
grep -q "$T/bad.ini:[0-9]*:" "$T/err" || die "bad board: no file:line: $(cat "$T/err")"
"$OTAHIL" run update --board "$T/bad.ini" --out "$T/r" >"$T/out" 2>&1; rc=$?
[ "$rc" -eq 2 ] || die "run with bad board: exit $rc"
"$OTAHIL" image make --version app-9.9.9 --size 5000 -o "$T/img.bin" >/dev/null || die "image make"
"$OTAHIL" image info "$T/img.bin" | grep -q 'app-9.9.9' || die "image info"
head -c 3000 "$T/img.bin" > "$T/trunc.bin"
"$OTAHIL" image info "$T/trunc.bin" 2>"$T/err"; rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l < "$T/err")" -eq 1 ] || die "truncated image: exit $rc: $(cat "$T/err")"
grep -q "trunc.bin" "$T/err" || die "error does not name the file"
"$OTAHIL" flash provision "$T/f.bin" --board native --image "$T/trunc.bin" 2>"$T/err"; rc=$?
[ "$rc" -eq 2 ] && [ ! -e "$T/f.bin" ] || die "provision with a bad image: exit $rc"
"$OTAHIL" bogus 2>/dev/null; [ $? -eq 2 ] || die "unknown command"
exit 0

# docs/conformance.md is the catalogue's own output: it never drifts from the code.
. "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
"$OTAHIL" catalogue --markdown >"$T/md" || die "catalogue --markdown failed"
diff -u "$root/docs/conformance.md" "$T/md" >"$T/diff" \
  || { head -40 "$T/diff"; die "docs/conformance.md differs from the catalogue: regenerate it with otahil catalogue --markdown > docs/conformance.md"; }
# IDs are unique and well formed
"$OTAHIL" catalogue | awk '{print $1}' >"$T/ids"
[ "$(sort -u "$T/ids" | wc -l)" -eq "$(wc -l <"$T/ids")" ] || die "duplicate IDs"
grep -vqE '^OTA-[A-Z]+-[0-9]{3}$' "$T/ids" && die "an ID is not OTA-GROUP-NNN"
# bad input: one line naming what is wrong, exit 2
"$OTAHIL" certify --only OTA-NOPE-001 --out "$T/x" 2>"$T/e"; [ $? -eq 2 ] || die "--only bogus: exit"
grep -q "OTA-NOPE-001" "$T/e" || die "--only bogus: message"
"$OTAHIL" certify --shard 3/2 --out "$T/x" 2>"$T/e"; [ $? -eq 2 ] || die "--shard 3/2: exit"
printf '[port]\nname = x\ngeneration = g7\n' >"$T/p.ini"
"$OTAHIL" certify --profile "$T/p.ini" --out "$T/x" 2>"$T/e"; [ $? -eq 2 ] || die "bad profile: exit"
grep -q "p.ini:3: key 'generation'" "$T/e" || { cat "$T/e"; die "bad profile: message"; }
printf '[port]\nname = x\nbootloader = pingpong\n' >"$T/p.ini"
"$OTAHIL" certify --profile "$T/p.ini" --board native --out "$T/x" 2>"$T/e"; [ $? -eq 2 ] || die "bootloader mismatch: exit"
grep -q "board native has a copy bootloader" "$T/e" || { cat "$T/e"; die "bootloader mismatch: message"; }
# shards: together they run each case once
"$OTAHIL" certify --only OTA-VER,OTA-INT --shard 1/2 --out "$T/s1" >/dev/null 2>&1 || die "shard 1/2"
"$OTAHIL" certify --only OTA-VER,OTA-INT --shard 2/2 --out "$T/s2" >/dev/null 2>&1 || die "shard 2/2"
# (a transport matrix row, "[TRANSPORT] title", repeats its case's ID)
cat "$T/s1/summary.txt" "$T/s2/summary.txt" | grep -E '^(PASS|SKIP|FAIL|ERROR) ' | grep -v ' s  \[' |
  awk '{print $2}' | sort >"$T/got"
grep -E '^OTA-(VER|INT)-' "$T/ids" | sort >"$T/want"
diff "$T/want" "$T/got" || die "shards do not cover the selection exactly once"
grep -q 'incomplete$' "$T/s1/summary.txt" || die "a shard must not say certified"
# the whole catalogue: --list names what each shard would run, each case exactly once
for n in 2 3; do
  for i in $(seq 1 $n); do "$OTAHIL" certify --list --shard "$i/$n" || die "--list --shard $i/$n"; done |
    awk '{print $1}' | sort >"$T/got$n"
  sort "$T/ids" | diff - "$T/got$n" || die "--shard I/$n does not cover the whole catalogue exactly once"
done
echo "catalogue: $(wc -l <"$T/ids") cases, docs in step"

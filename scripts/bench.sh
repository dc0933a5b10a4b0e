#!/usr/bin/env bash
# bench.sh [BUILD] - performance figures (not tests): power-cut sweep rates, the
# transport proxy's throughput and added latency, a 1 MiB download over CoAP blocks.
# Prints one line per figure with the target and the ratio; docs/PERFORMANCE.md
# records the numbers with the machine and the command.
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
otahil="$root/$build/bin/otahil"
export OTAHIL_BOARDS="$root/boards"
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] && jobs=2
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), jobs $jobs"

rate() { # prints "points seconds rate" from a sweep summary line
  sed -n 's/.*: \([0-9]*\) flash ops, \([0-9]*\) cut points checked, \([0-9]*\) failed (\([0-9.]*\) s, \([0-9]*\) points\/s).*/\2 \4 \5 \3/p'
}
row() { # board mode size [target [extra sweep options...]]
  local b=$1 m=$2 sz=$3 target=${4:-}
  shift 4 2>/dev/null || shift $#
  read -r pts secs r failed < <("$otahil" sweep --board "$b" --mode "$m" --image-size "$sz" --jobs "$jobs" --quiet "$@" | tail -1 | rate)
  local ratio=""
  [ -n "$target" ] && ratio=$(awk -v r="$r" -v t="$target" 'BEGIN { printf "  target %d/s, ratio %.2f", t, r / t }')
  printf '%-13s %-7s %6s  %5d points in %6.2f s  %5d points/s  %s failed%s\n' "$b" "$m" "$sz" "$pts" "$secs" "$r" "$failed" "$ratio"
}

echo "== port-level sweep, every flash op, reference port =="
row mk3060 torn 900K 2000
for b in native mk3060 developerkit esp8266; do
  for m in before after torn erase; do
    row "$b" "$m" 256K
  done
done

echo "== end-to-end sweep (real Mosquitto, civetweb firmware server, cloud service), every flash op =="
row mk3060 torn 256K 100 --e2e
row mk3060 torn 900K 100 --e2e

echo "== transport proxy: 256 MiB each way through loopback, direct against through the proxy; 64-byte ping-pong =="
"$otahil" proxy --bench --bytes 268435456 --rounds 5 --round-trips 10000

echo "== CoAP: a 1 MiB firmware file from the cloud's CoAP endpoint in 1024-byte Block2 blocks, against HTTP =="
# coap_bench OTAHIL: a 1 MiB firmware file fetched from the cloud's CoAP endpoint in 1024-byte Block2
# blocks by libcoap's own client (coap-client-openssl), 3 runs; then the same file over HTTP with curl.
coap_bench() {
  local otahil=$1 d; d=$(mktemp -d)
  "$otahil" cloud --workdir "$d/c" >"$d/cloud.out" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do [ -s "$d/c/cloud.json" ] && break; sleep 0.05; done
  "$otahil" image make --version app-2.0.0-20260101.1200 --size 1048420 -o "$d/fw.bin" >/dev/null
  "$otahil" push --image "$d/fw.bin" --workdir "$d/c" >/dev/null
  local port hport sign tok U
  port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["coap_port"])' "$d/c/cloud.json")
  hport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http_port"])' "$d/c/cloud.json")
  U=coap://127.0.0.1:$port
  sign=$(printf 'clientIddeviceNamedev-0001productKeya1OtaHilPK0' | openssl dgst -md5 -hmac otahil-device-secret-0001 -r | cut -d' ' -f1)
  tok=$(coap-client-openssl -m post -e "{\"productKey\":\"a1OtaHilPK0\",\"deviceName\":\"dev-0001\",\"clientId\":\"\",\"sign\":\"$sign\"}" "$U/auth" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["token"])')
  coap-client-openssl -m post -O 61,"$tok" -e '{"id":0,"params":{"version":"app-1.0.0-20180101.1000"}}' "$U/topic/ota/device/inform/a1OtaHilPK0/dev-0001" >/dev/null
  for i in 1 2 3; do
    local s e
    s=$(date +%s.%N)
    coap-client-openssl -m post -b 6 -O 61,"$tok" -o "$d/got.bin" "$U/topic/ota/device/download/a1OtaHilPK0/dev-0001" 2>/dev/null
    e=$(date +%s.%N)
    cmp -s "$d/fw.bin" "$d/got.bin" || echo "coap: the file fetched differs"
    awk -v a="$s" -v b="$e" -v n="$(stat -c %s "$d/got.bin")" 'BEGIN { printf "coap  %d bytes in 1024-byte blocks: %.1f ms, %.1f MiB/s\n", n, (b-a)*1000, n/(b-a)/1048576 }'
    s=$(date +%s.%N)
    curl -s -o "$d/got2.bin" "http://127.0.0.1:$hport/fw/1/fw.bin"
    e=$(date +%s.%N)
    awk -v a="$s" -v b="$e" -v n="$(stat -c %s "$d/got2.bin")" 'BEGIN { printf "http  %d bytes: %.1f ms, %.1f MiB/s\n", n, (b-a)*1000, n/(b-a)/1048576 }'
  done
  kill "$pid"; wait "$pid" 2>/dev/null
  rm -rf "$d"
}
coap_bench "$otahil"

echo "== certification: the whole catalogue on the native board, reference port, --jobs 2 (target 60 s) =="
out=$(mktemp -d)
for s in 1 2; do
  start=$(date +%s.%N)
  "$otahil" certify --out "$out/s$s" --jobs 2 --seed 7 >/dev/null 2>&1 || echo "certify: exit $? (see $out/s$s/summary.txt)"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" -v s="$s" 'BEGIN { printf "run %d: %.1f s, ratio %.2f of the 60 s target\n", s, b - a, (b - a) / 60 }'
  tail -n 1 "$out/s$s/summary.txt"
done
# same seed, same verdicts and the same event sequences (event names in order, per run)
if diff <(grep -E '^(PASS|FAIL|SKIP|ERROR) ' "$out/s1/summary.txt" | awk '{print $1, $2}') \
        <(grep -E '^(PASS|FAIL|SKIP|ERROR) ' "$out/s2/summary.txt" | awk '{print $1, $2}') >/dev/null; then
  echo "determinism: the two runs gave identical verdicts"
else
  echo "determinism: the verdicts differ between the two runs"
fi
python3 - "$out/s1" "$out/s2" <<'PY'
import json, os, sys
a, b = (json.load(open(os.path.join(d, "results.json")))["cases"] for d in sys.argv[1:3])
ran = [(x, y) for x, y in zip(a, b) if x["events_digest"] or y["events_digest"]]
same = [x["id"] for x, y in ran if x["events_digest"] == y["events_digest"]]
diff = [x["id"] for x, y in ran if x["events_digest"] != y["events_digest"]]
print("determinism: %d of %d cases with the same event sequence (results.json events_digest)%s"
      % (len(same), len(ran), ("; differ: " + ", ".join(diff)) if diff else ""))
def order(d, i):
    try:
        return [(e["src"], e["ev"]) for e in map(json.loads, open(os.path.join(d, "runs", i, "events.jsonl")))]
    except OSError:
        return None
runs = sorted({x["events"].split("/")[1] for x, _ in ran if x["events"]})
g = sum(order(sys.argv[1], i) == order(sys.argv[2], i) for i in runs)
print("determinism: %d of %d runs also with the same interleaving of processes (not required)" % (g, len(runs)))
PY
rm -rf "$out"

# The QEMU target (docs/qemu.md): the firmware's size, agent + port apart, and
# the time from starting QEMU to the device's first inform, over five updates.
if [ -f "$build/qemu/otahil-fw.elf" ] && command -v qemu-system-arm >/dev/null; then
  o="$build/qemu/obj"
  arm-none-eabi-size "$build/qemu/otahil-fw.elf" | awk 'NR == 2 {
    printf "qemu firmware: %d B flash (text + data), %d B RAM (data + bss), heap and stack apart\n", $1 + $2, $2 + $3 }'
  arm-none-eabi-size -t "$o/sim/agent/agent.o" "$o/sim/agent/version.o" "$o/boards/ports/reference/ota_port.o" |
    awk 'END { printf "qemu agent + port (no TLS): %d B flash (text + data), %d B RAM (data + bss)\n", $1 + $2, $2 + $3 }'
  qo=$(mktemp -d)
  for i in 1 2 3 4 5; do
    "$build/bin/otahil" run update --target qemu --board qemu-mps2-an385 --seed "$i" --out "$qo/$i" >/dev/null
  done
  python3 - "$qo" <<'PY'
import json, os, sys
ms = []
for d in sorted(os.listdir(sys.argv[1])):
    evs = [json.loads(l) for l in open(os.path.join(sys.argv[1], d, "events.jsonl"))]
    start = next(e["t_us"] for e in evs if e["ev"] == "qemu.start")
    inform = next(e["t_us"] for e in evs if e["ev"] == "device.inform")
    ms.append((inform - start) / 1000.0)
print("qemu boot to first inform (QEMU start -> the cloud's device.inform): %.1f-%.1f ms over %d runs"
      % (min(ms), max(ms), len(ms)))
PY
  # a whole 256 KiB update on QEMU (two boots, the copy), and power-cut points per second of a
  # QEMU sweep (each point a whole run: docs/qemu.md, "Power-cut sweeps")
  printf '[plan]\nname = bench-256k\nimage_size = 262144\n' > "$qo/256k.plan"
  for i in 1 2 3; do
    "$build/bin/otahil" run update --target qemu --board qemu-mps2-an385 --plan "$qo/256k.plan" --seed "$i" \
      --out "$qo/256k-$i" | sed -n 's/^PASS update .* in \([0-9.]*\) s:.*/\1/p'
  done | sort -n | awk '{ t[NR] = $1 } END { if (NR) printf "qemu update, 256 KiB image (otahil run, two boots): %s-%s s over %d runs\n", t[1], t[NR], NR }'
  # the same update over the firmware's own IP stack (--net user: LAN9118, TCP/IP and MQTT in the guest)
  if [ -f "$build/qemu/nic-boot.elf" ]; then
    for i in 1 2 3; do
      "$build/bin/otahil" run update --target qemu --net user --board qemu-mps2-an385 --plan "$qo/256k.plan" \
        --seed "$i" --out "$qo/nic-$i" | sed -n 's/^PASS update .* in \([0-9.]*\) s:.*/\1/p'
    done | sort -n | awk '{ t[NR] = $1 } END { if (NR) printf "qemu update, 256 KiB image, own IP stack (--net user): %s-%s s over %d runs\n", t[1], t[NR], NR }'
    python3 - "$qo" <<'PY'
import json, os, sys
rates = []
for i in (1, 2, 3):
    p = os.path.join(sys.argv[1], "nic-%d" % i, "events.jsonl")
    if not os.path.exists(p):
        continue
    evs = [json.loads(l) for l in open(p)]
    st = next((e for e in evs if e["ev"] == "agent.download.start"), None)
    en = next((e for e in evs if e["ev"] == "agent.download.end"), None)
    if st and en and en["t_us"] > st["t_us"]:
        rates.append(st["size"] / 1024.0 / ((en["t_us"] - st["t_us"]) / 1e6))
if rates:
    print("qemu download over the own IP stack (agent.download.start -> end, flash writes included): "
          "%.0f-%.0f KiB/s over %d runs" % (min(rates), max(rates), len(rates)))
PY
  fi
  "$build/bin/otahil" certify --target qemu --only OTA-PWR-003 --jobs 1 --out "$qo/pwr" >/dev/null
  tail -n 1 "$qo/pwr/runs/OTA-PWR-003/sweep.txt" |
    awk '{ printf "qemu power-cut sweep (torn, one job): %d points in %s s, %.2f points/s\n", $1, $(NF-1), $1 / $(NF-1) }'
  rm -rf "$qo"
fi

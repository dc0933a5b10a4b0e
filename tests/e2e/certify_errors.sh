# The harness's own failures are ERROR and exit 2, never FAIL, and the reports are still
# written: a deleted broker binary ($OTAHIL_MOSQUITTO names a file that is gone), and a
# cloud port (--mqtt-port, --http-port) that another program holds.
. "$(dirname "$0")/lib.bash"
# errors DIR N: the reports of DIR have exactly N cases in ERROR, none FAIL, and junit says so
errors() {
  python3 - "$1" "$2" <<'PY' || die "reports of $1"
import json, sys, xml.etree.ElementTree as ET
d, n = sys.argv[1], int(sys.argv[2])
r = json.load(open(d + "/results.json"))
v = [c["verdict"] for c in r["cases"]]
assert v.count("ERROR") == n and "FAIL" not in v, v
assert r["counts"]["error"] == n, r["counts"]
errs = sum(len(tc.findall("error")) for tc in ET.parse(d + "/junit.xml").iter("testcase"))
assert errs == n, "junit has %d <error>, expected %d" % (errs, n)
PY
}

# the broker binary deleted: every case that needs the cloud is ERROR, the sweep still runs
mkdir -p "$T/bin" && cp "$(command -v mosquitto || echo /usr/sbin/mosquitto)" "$T/bin/mosquitto"
rm "$T/bin/mosquitto"
OTAHIL_MOSQUITTO=$T/bin/mosquitto "$OTAHIL" certify --only OTA-DL-002,OTA-BOOT-001 --out "$T/nobroker" \
  >"$T/nobroker.out" 2>&1; rc=$?
cat "$T/nobroker.out"
[ "$rc" -eq 2 ] || die "no broker: exit $rc, expected 2"
grep -q "^ERROR OTA-DL-002 " "$T/nobroker.out" || die "no broker: OTA-DL-002 is not ERROR"
grep -q 'no mosquitto broker binary' "$T/nobroker.out" || die "no broker: the reason does not say so"
errors "$T/nobroker" 2
OTAHIL_MOSQUITTO=$T/bin/mosquitto "$OTAHIL" run update --out "$T/nobroker-run" >"$T/run.out" 2>&1; rc=$?
[ "$rc" -eq 2 ] || { cat "$T/run.out"; die "otahil run with no broker: exit $rc, expected 2"; }
grep -q '^ERROR update .*mosquitto broker not found' "$T/run.out" || { cat "$T/run.out"; die "otahil run: reason"; }

# a port held by another program: ERROR naming it, for MQTT and for HTTP
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "$T/port" &
holder=$!
trap 'kill $holder 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$T/port" ] && break; sleep 0.05; done
P=$(cat "$T/port")
for kind in mqtt http; do
  "$OTAHIL" certify --only OTA-DL-002,OTA-VER-001 --$kind-port "$P" --out "$T/$kind" >"$T/$kind.out" 2>&1; rc=$?
  cat "$T/$kind.out"
  [ "$rc" -eq 2 ] || die "$kind port in use: exit $rc, expected 2"
  k=$(echo $kind | tr a-z A-Z)
  [ "$(grep -c "cloud: $k port 127.0.0.1:$P is in use by another program" "$T/$kind.out")" -eq 2 ] \
    || die "$kind port in use: the reason does not name the port"
  errors "$T/$kind" 2
done
"$OTAHIL" certify --only OTA-DL-001 --mqtt-port 70000 >"$T/bad.out" 2>&1 && die "--mqtt-port 70000 accepted"
grep -q "mqtt-port '70000': expected a TCP port" "$T/bad.out" || die "--mqtt-port 70000: message"
exit 0

# Broker auth through `otahil cloud` with the Mosquitto command-line clients, the passwords signed
# here with openssl (spec §2.4): a wrong secret is refused with CONNACK "not authorised" and a
# broker.auth_refused event; device A subscribed to device B's upgrade topic gets nothing of B's
# push while B gets it; --no-auth lets an anonymous client in.
. "$(dirname "$0")/lib.bash"
PK=a1OtaHilPK0 A=dev-0001 SA=otahil-device-secret-0001 B=dev-0002 SB=secret-of-b
cloud_pid=
trap '[ -n "$cloud_pid" ] && kill "$cloud_pid" 2>/dev/null; [ -n "$cloud_pid" ] && wait "$cloud_pid" 2>/dev/null; cleanup' EXIT

# cid DN [sha1|sha256] [ID]: the clientId linkkit sends (ID default PK.DN);
# sign DN SECRET [sha1|sha256] [ID]: its password
cid() { echo "${3:-$PK.$1}|securemode=3,timestamp=2524608000000,signmethod=hmac${2:-sha1},gw=0,ext=0|"; }
sign() {
  printf '%s' "clientId${4:-$PK.$1}deviceName$1productKey${PK}timestamp2524608000000" |
    openssl dgst "-${3:-sha1}" -hmac "$2" -r | cut -d' ' -f1
}

"$OTAHIL" cloud --workdir "$T/c" --device "$PK/$B/$SB" >"$T/cloud.out" 2>"$T/cloud.err" &
cloud_pid=$!
for _ in $(seq 1 200); do [ -s "$T/c/cloud.json" ] && break; sleep 0.05; done
[ -s "$T/c/cloud.json" ] || { cat "$T/cloud.err"; die "otahil cloud did not start"; }
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt_port"])' "$T/c/cloud.json")
grep -q 'broker auth on' "$T/cloud.out" || die "otahil cloud does not say auth is on"
[ "$(stat -c %a "$T/c/broker-registry")" = 600 ] || die "registry is not mode 0600"

# a wrong secret: refused, and the refusal is in the event log and the broker log
mosquitto_pub -p "$port" -i "$(cid $A)" -u "$A&$PK" -P "$(sign $A wrong-secret)" \
  -t "/ota/device/inform/$PK/$A" -m x 2>"$T/pub.err" && die "wrong secret accepted"
grep -qi 'not authori[sz]ed' "$T/pub.err" || { cat "$T/pub.err"; die "no 'not authorised' from the broker"; }
grep -q '"ev":"broker.auth_refused".*signature does not match' "$T/c/events.jsonl" || die "no broker.auth_refused event"
grep -q "otahil-auth: refused client '$PK.$A|" "$T/c/mosquitto.log" || die "no refusal in the broker log"

# SHA-256 in upper case is accepted
mosquitto_pub -p "$port" -i "$(cid $A sha256)" -u "$A&$PK" \
  -P "$(sign $A $SA sha256 | tr a-f A-F)" -t "/ota/device/inform/$PK/$A" \
  -m '{"id":0,"params":{"version":"app-1.0.0-20180101.1000"}}' || die "hmacsha256 upper-case refused"

# B waits for its push; A listens on its own upgrade topic, B's and a wildcard (its own keeps
# mosquitto_sub from leaving at once when the broker refuses the other two in the SUBACK)
mosquitto_sub -p "$port" -i "$(cid $B)" -u "$B&$PK" -P "$(sign $B $SB)" -q 1 \
  -t "/ota/device/upgrade/$PK/$B" -C 1 -W 20 >"$T/b.out" 2>"$T/b.err" &
bsub=$!
mosquitto_sub -p "$port" -i "$(cid $A)" -u "$A&$PK" -P "$(sign $A $SA)" -q 1 \
  -t "/ota/device/upgrade/$PK/$A" -t "/ota/device/upgrade/$PK/$B" -t "/ota/device/upgrade/#" -W 6 \
  >"$T/a.out" 2>"$T/a.err" &
asub=$!
for _ in $(seq 1 100); do
  [ "$(grep -c '"ev":"broker.auth_ok"' "$T/c/events.jsonl")" -ge 3 ] && break; sleep 0.05
done
sleep 0.3
# B's inform from a second connection: its own clientId, or the broker would drop the first
mosquitto_pub -p "$port" -i "$(cid $B sha1 inform-$B)" -u "$B&$PK" -P "$(sign $B $SB sha1 inform-$B)" \
  -q 1 -t "/ota/device/inform/$PK/$B" -m '{"id":0,"params":{"version":"app-1.0.0-20180101.1000"}}' \
  || die "B's inform refused"
"$OTAHIL" image make --version app-2.0.0-20260101.1200 --size 20000 -o "$T/v2.bin" >/dev/null || die "image make"
"$OTAHIL" push --image "$T/v2.bin" --device "$PK/$B" --workdir "$T/c" >"$T/push.out" || die "push"
wait "$bsub" || { cat "$T/b.err"; die "B did not receive its push"; }
grep -q 'app-2.0.0-20260101.1200' "$T/b.out" || die "B's push has no version"
wait "$asub"
[ -s "$T/a.out" ] && { cat "$T/a.out"; die "A received B's push"; }
grep -q '"ev":"broker.acl_denied".*"access":"subscribe","topic":"/ota/device/upgrade/'"$PK/$B"'"' \
  "$T/c/events.jsonl" || die "no broker.acl_denied event for A's subscription"

kill "$cloud_pid"; wait "$cloud_pid" || die "otahil cloud exit status"
cloud_pid=

# --no-auth: anonymous clients, any topic
"$OTAHIL" cloud --workdir "$T/open" --no-auth >"$T/open.out" 2>/dev/null &
cloud_pid=$!
for _ in $(seq 1 200); do [ -s "$T/open/cloud.json" ] && break; sleep 0.05; done
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt_port"])' "$T/open/cloud.json")
grep -q 'broker auth off' "$T/open.out" || die "otahil cloud --no-auth does not say auth is off"
mosquitto_pub -p "$port" -t anything -m x || die "--no-auth refused an anonymous client"
exit 0

# HTTPS and mqtts (docs/cloud.md, "HTTPS and mqtts"; spec §4.1, §12 #16), on the native board
# with the reference agent against the run's own test CA:
#   https-download         the update over HTTPS, the chain and 127.0.0.1 verified
#   https-untrusted-ca,    the device refuses the server (the verify error named in tls.handshake_failed),
#   https-expired-cert,    reports step -2 and keeps its image: PASS, as a fail-clean plan
#   https-wrong-host
#   agent-no-cert-verify   the agent that passes no CA downloads from the untrusted server: caught
#   mqtts-https            MQTT over TLS to the broker's TLS listener, firmware over HTTPS: the update
#   https-low-memory       512-byte records granted by the server, one session inside the TLS heap
#   https-second-session   the download's session does not fit beside the MQTT one: fails cleanly
# and the plan keys' errors name the file, line and key.
. "$(dirname "$0")/lib.bash"

# ev LOG EVENT KEY: the value of KEY in the first EVENT of LOG ("" if none)
ev() {
  python3 - "$@" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["ev"] == sys.argv[2]:
        print(e.get(sys.argv[3], "")); break
PY
}

run() { # NAME [args]: otahil run into $T/NAME, exit status kept in rc
  local name=$1; shift
  "$OTAHIL" run "$@" --out "$T/$name" --reboot-delay-ms 100 --timeout 60 >"$T/$name.out" 2>&1; rc=$?
}

# the update over HTTPS: the URL is https://, verified against the CA, the file exact
run dl https-download
[ "$rc" -eq 0 ] || { cat "$T/dl.out"; die "https-download: exit $rc"; }
grep -q '^  PASS  image-exact ' "$T/dl.out" || { cat "$T/dl.out"; die "https-download: image not exact"; }
log=$T/dl/events.jsonl
expect_events "$log" cloud.tls cloud.started job.pushed tls.connected agent.http_get http.request job.succeeded
[ "$(ev "$log" tls.connected verify)" = peer ] || die "https-download: the server was not verified"
[ "$(ev "$log" agent.http_get tls)" = True ] || die "https-download: the GET was not over TLS"
grep -q '"url":"https://127.0.0.1:' "$log" || die "https-download: the pushed URL is not https://"
[ "$(stat -c %a "$T/dl/cloud/tls/server-good.key")" = 600 ] || die "server key is not mode 0600"
ls "$T/dl/cloud/tls/" | grep -q '^ca\.key$\|\.tmp$' && die "a CA key or a temporary file was left in tls/"

# each bad certificate: refused with its own verify error, step -2, the old image kept
for c in untrusted-ca:"unable to get local issuer certificate" expired-cert:"certificate has expired" \
         wrong-host:"IP address mismatch"; do
  name=${c%%:*}; why=${c#*:}
  run "$name" "https-$name"
  [ "$rc" -eq 0 ] || { cat "$T/$name.out"; die "https-$name: exit $rc, expected PASS (fails cleanly)"; }
  grep -q '^PASS .*failed cleanly' "$T/$name.out" || { cat "$T/$name.out"; die "https-$name: not clean"; }
  log=$T/$name/events.jsonl
  expect_events "$log" tls.handshake_failed agent.download.end agent.progress job.failed
  ev "$log" tls.handshake_failed why | grep -q "certificate verify failed: $why" \
    || die "https-$name: handshake failure does not say '$why'"
  [ "$(ev "$log" agent.download.end rc)" = -1 ] || die "https-$name: not a network failure"
  grep -q '"ev":"agent.progress","step":-2' "$log" || die "https-$name: no step -2"
  grep -q '"ev":"port.set_boot".*FINISH' "$log" && die "https-$name: set_boot FINISH called"
  grep -q '"ev":"http.request"' "$log" && die "https-$name: a request reached the server"
done

# the agent that passes no CA downloads from the untrusted server: fail-step and keeps-image fail
run bad https-untrusted-ca --port agent-no-cert-verify
[ "$rc" -eq 1 ] || { cat "$T/bad.out"; die "agent-no-cert-verify: exit $rc, expected 1"; }
grep -q '^  FAIL  keeps-image ' "$T/bad.out" || { cat "$T/bad.out"; die "agent-no-cert-verify: keeps-image"; }
[ "$(ev "$T/bad/events.jsonl" tls.connected verify)" = none ] || die "agent-no-cert-verify: verified?"

# MQTT over TLS and firmware over HTTPS
run mqtts mqtts-https
[ "$rc" -eq 0 ] || { cat "$T/mqtts.out"; die "mqtts-https: exit $rc"; }
log=$T/mqtts/events.jsonl
port=$(ev "$log" cloud.started mqtts_port)
[ "${port:-0}" -gt 0 ] || die "mqtts-https: no TLS listener on the broker"
grep -q "^listener $port 127.0.0.1" "$T/mqtts/cloud/mosquitto.conf" || die "mqtts: listener not in the config"
[ "$(ev "$log" device.tls mqtts)" = True ] || die "mqtts: device not on TLS"
expect_events "$log" mqtt.connected tls.connected job.succeeded
# the CLI form of the same
"$OTAHIL" run update --transport mqtts+https --out "$T/cli" --reboot-delay-ms 100 >"$T/cli.out" 2>&1 \
  || { cat "$T/cli.out"; die "--transport mqtts+https: not PASS"; }
grep -q 'transport=mqtts+https' "$T/cli.out" || die "--transport not in the plan summary"

# low-memory TLS: 512-byte records granted; the second session refused for the heap, cleanly
run low https-low-memory
[ "$rc" -eq 0 ] || { cat "$T/low.out"; die "https-low-memory: exit $rc"; }
[ "$(ev "$T/low/events.jsonl" tls.connected max_fragment)" = 512 ] || die "https-low-memory: 512 not granted"
run second https-second-session
[ "$rc" -eq 0 ] || { cat "$T/second.out"; die "https-second-session: exit $rc"; }
ev "$T/second/events.jsonl" tls.handshake_failed why | grep -q 'TLS heap budget 151552 bytes' \
  || die "https-second-session: not refused for the heap"
grep -q '"ev":"mqtt.connected"' "$T/second/events.jsonl" || die "https-second-session: MQTT never up"

# plan keys: bad values and a tls key without a TLS transport name the line and key
printf '[plan]\ntransport = ftp\n' >"$T/x.plan"
"$OTAHIL" run update --plan "$T/x.plan" --out "$T/x" >"$T/x.out" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q "x.plan:2: key 'transport': expected mqtt+http, mqtt+https, mqtts+http, mqtts+https, coap+http" "$T/x.out" \
  || { cat "$T/x.out"; die "bad transport: exit $rc"; }
printf '[plan]\ntls = expired\n' >"$T/y.plan"
"$OTAHIL" run update --plan "$T/y.plan" --out "$T/y" >"$T/y.out" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q "y.plan:2: key 'tls': .*only with transport = https" "$T/y.out" \
  || { cat "$T/y.out"; die "tls without https: exit $rc"; }
"$OTAHIL" run update --transport https --tls-fragment 300 --out "$T/z" >"$T/z.out" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--tls-fragment '300': key 'tls_fragment': expected 512" "$T/z.out" \
  || { cat "$T/z.out"; die "bad --tls-fragment: exit $rc"; }
echo "https: download, 3 refusals, the bad agent, mqtts, low memory: ok"

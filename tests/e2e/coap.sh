# CoAP (spec §3; docs/cloud.md, "CoAP"): the signal channel over CoAP with the firmware
# over CoAP blocks and over HTTP, the block faults of the cloud (docs/faults.md, "CoAP
# faults"), and bad input at the CoAP endpoint of a running `otahil cloud`:
#   coap+coap, coap+http     the update PASSes, the protocol is in the event log
#   coaps+coaps              the same over DTLS with the test CA's certificate (verified by the
#                            device: chain and host), and with --dtls psk the device secret as
#                            pre-shared key
#   coaps-untrusted-ca, coaps-expired-cert, coaps-wrong-host   the device refuses the DTLS
#                            handshake with OpenSSL's reason, never authenticates, downloads
#                            nothing: PASS as fail-clean
#   coap-resume-after-drop   block 20 unanswered 11 times: the device resumes at its breakpoint
#   coap-dup-reorder         a block sent twice, one out of order, one late: the image is exact
#   coap-etag-change, coap-size2-lie, coap-absurd-block, coap-block-code: fail cleanly
#   wrong secret, another device's signature, no token, a malformed Block2, SZX 7, a wrong
#   DTLS key: refused
#   with an event, and the cloud still answers afterwards
. "$(dirname "$0")/lib.bash"

run() { # NAME [args]: otahil run into $T/NAME, exit status kept in rc
  local name=$1; shift
  "$OTAHIL" run "$@" --out "$T/$name" --reboot-delay-ms 100 --timeout 60 >"$T/$name.out" 2>&1; rc=$?
}

run cc update --transport coap+coap
[ "$rc" -eq 0 ] || { cat "$T/cc.out"; die "coap+coap: exit $rc"; }
grep -q '^  PASS  image-exact ' "$T/cc.out" || die "coap+coap: image not exact"
log=$T/cc/events.jsonl
expect_events "$log" coap.started device.transport coap.auth coap.message coap.push_delivered \
  agent.coap_download coap.block port.written job.succeeded
grep -q '"ev":"run.start".*"transport":"coap+coap"' "$log" || die "coap+coap: no transport in run.start"
grep -q '"ev":"device.transport","signal":"coap","download":"coap"' "$log" || die "coap+coap: device.transport"
grep -q '"ev":"http.request"' "$log" && die "coap+coap: the firmware came over HTTP"

run ch update --transport coap+http
[ "$rc" -eq 0 ] || { cat "$T/ch.out"; die "coap+http: exit $rc"; }
expect_events "$T/ch/events.jsonl" coap.auth coap.push_delivered http.request job.succeeded
grep -q '"ev":"coap.block"' "$T/ch/events.jsonl" && die "coap+http: blocks over CoAP"

run dtls update --transport coaps+coaps
[ "$rc" -eq 0 ] || { cat "$T/dtls.out"; die "coaps+coaps: exit $rc"; }
expect_events "$T/dtls/events.jsonl" coap.started device.transport coap.client coap.dtls_connected coap.auth \
  coap.block job.succeeded
grep -q '"ev":"coap.client","url":"coaps://127.0.0.1:[0-9]*","dtls":true,"auth":"certificate"' \
  "$T/dtls/events.jsonl" || die "coaps+coaps: the device did not use DTLS with certificates"
grep -q '"ev":"coap.dtls_pki".*"name":"good"' "$T/dtls/events.jsonl" || die "coaps+coaps: no coap.dtls_pki"
grep -q '"src":"os","ev":"coap.dtls_verified","peer":"localhost","host":"127.0.0.1"' "$T/dtls/events.jsonl" \
  || die "coaps+coaps: the server certificate was not verified"
grep -q '"src":"coap","ev":"coap.dtls_connected","auth":"certificate"' "$T/dtls/events.jsonl" \
  || die "coaps+coaps: the cloud saw no certificate handshake"
grep -q '"ev":"coap.dtls_psk"' "$T/dtls/events.jsonl" && die "coaps+coaps: PSK used with a CA"

run psk update --transport coaps+coaps --dtls psk
[ "$rc" -eq 0 ] || { cat "$T/psk.out"; die "coaps+coaps --dtls psk: exit $rc"; }
expect_events "$T/psk/events.jsonl" coap.dtls_psk coap.dtls_connected coap.auth coap.block job.succeeded
grep -q '"ev":"coap.client","url":"coaps://[^"]*","dtls":true,"auth":"psk"' "$T/psk/events.jsonl" \
  || die "--dtls psk: the device did not use the pre-shared key"
grep -q '"ev":"coap.dtls_pki"\|"ev":"device.tls"' "$T/psk/events.jsonl" && die "--dtls psk: a CA was made or given"

# A bad server certificate over DTLS (the scenarios coaps-*): the device refuses every
# handshake with the reason, never reaches /auth, so the cloud never pushes and nothing is
# downloaded; the run settles and PASSes as the plan's fail-clean.
for c in untrusted-ca:untrusted-ca:'unable to get local issuer certificate' \
         expired:expired-cert:'certificate has expired' \
         wrong-host:wrong-host:'wrong-host.invalid does not name 127.0.0.1'; do
  name=${c%%:*} rest=${c#*:}; plan=coaps-${rest%%:*} why=${rest#*:}
  run "bad-$name" "$plan"
  [ "$rc" -eq 0 ] && grep -q "^PASS $plan .*failed cleanly" "$T/bad-$name.out" ||
    { cat "$T/bad-$name.out"; die "$plan: exit $rc, not PASS"; }
  log=$T/bad-$name/events.jsonl
  grep -q '"ev":"run.settled".*did not reach the cloud' "$log" || die "$plan: not settled"
  grep -q "\"ev\":\"coap.dtls_pki\".*\"name\":\"$name\"" "$log" || die "$name: not presented over coaps"
  grep -q "\"src\":\"os\",\"ev\":\"coap.dtls_failed\",\"host\":\"127.0.0.1\",\"auth\":\"certificate\",\"why\":\"certificate verify failed: $why\"" \
    "$log" || { grep dtls "$log" | head -3; die "$name: no coap.dtls_failed with '$why'"; }
  grep -q '"ev":"agent.coap_auth_failed"' "$log" || die "$name: the agent did not report its failure"
  grep -q '"ev":"\(coap.auth\|coap.dtls_verified\|coap.dtls_connected\|job.pushed\|coap.block\|http.request\|port.written\)"' \
    "$log" && die "$name: the device went on past a refused certificate"
  grep -q '"ev":"boot.image".*"version":"app-2' "$log" && die "$name: a new image booted"
done

run drop coap-resume-after-drop
[ "$rc" -eq 0 ] || { cat "$T/drop.out"; die "coap-resume-after-drop: exit $rc"; }
grep -q '^  PASS  resume-range .*1 resume' "$T/drop.out" || { cat "$T/drop.out"; die "no resume"; }
expect_events "$T/drop/events.jsonl" coap.fault agent.breakpoint_kept job.retry port.init \
  agent.coap_download coap.block job.succeeded
python3 - "$T/drop/events.jsonl" <<'PY' || die "coap-resume-after-drop: resumed at the wrong block"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
inits = [i for i, e in enumerate(evs) if e["ev"] == "port.init"]
bp = evs[inits[1]]["breakpoint"]
first = next(e for e in evs[inits[1]:] if e["ev"] == "coap.block")
assert bp > 0 and first["num"] == bp // 1024, (bp, first)
PY

run dup coap-dup-reorder
[ "$rc" -eq 0 ] || { cat "$T/dup.out"; die "coap-dup-reorder: exit $rc"; }
[ "$(grep -c '"ev":"coap.fault"' "$T/dup/events.jsonl")" -eq 3 ] || die "coap-dup-reorder: not 3 faults"
grep -q '"ev":"agent.coap_block_retry"' "$T/dup/events.jsonl" || die "no block refused by the device"

for p in coap-etag-change coap-size2-lie coap-absurd-block coap-block-code; do
  run "$p" "$p"
  [ "$rc" -eq 0 ] || { cat "$T/$p.out"; die "$p: exit $rc"; }
  grep -q 'failed cleanly' "$T/$p.out" || die "$p: not a clean failure"
  grep -q '"ev":"coap.fault"' "$T/$p/events.jsonl" || die "$p: no coap.fault event"
done

# bad input at a running cloud's CoAP endpoint
"$OTAHIL" cloud --workdir "$T/c" --device a1OtaHilPK0/dev-0002/secret-of-b >"$T/cloud.out" 2>"$T/cloud.err" &
cloud_pid=$!
trap 'kill $cloud_pid 2>/dev/null; wait $cloud_pid 2>/dev/null; cleanup' EXIT
for _ in $(seq 1 200); do [ -s "$T/c/cloud.json" ] && break; sleep 0.05; done
[ -s "$T/c/cloud.json" ] || { cat "$T/cloud.err"; die "otahil cloud did not start"; }
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["coap_port"])' "$T/c/cloud.json")
cc() { timeout 10 coap-client-openssl -B 5 "$@" 2>&1; }
sign() { printf 'clientId%sdeviceName%sproductKey%s' "$1" "$2" a1OtaHilPK0 |
  openssl dgst -md5 -hmac "$3" -r | cut -d' ' -f1; }
auth() { echo "{\"productKey\":\"a1OtaHilPK0\",\"deviceName\":\"$1\",\"clientId\":\"x\",\"sign\":\"$2\"}"; }
U=coap://127.0.0.1:$port
out=$(cc -m post -e "$(auth dev-0001 "$(sign x dev-0001 wrong)")" "$U/auth")
echo "$out" | grep -q '4.01' || die "wrong secret not refused ($out)"
out=$(cc -m post -e "$(auth dev-0001 "$(sign x dev-0002 secret-of-b)")" "$U/auth")
echo "$out" | grep -q '4.01' || die "another device's signature not refused ($out)"
[ "$(grep -c '"ev":"coap.auth_refused"' "$T/c/events.jsonl")" -eq 2 ] || die "no coap.auth_refused events"
out=$(cc -m post "$U/topic/ota/device/inform/a1OtaHilPK0/dev-0001")
echo "$out" | grep -q '4.01' || die "no token not refused ($out)"
tok=$(cc -m post -e "$(auth dev-0002 "$(sign x dev-0002 secret-of-b)")" "$U/auth" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["token"])')
out=$(cc -m post -O 2088,"$tok" "$U/topic/ota/device/inform/a1OtaHilPK0/dev-0001")
echo "$out" | grep -q '4.03' || die "a token used on another device's topic not refused ($out)"
out=$(cc -m post -O 61,"$tok" -O 23,0x0123456789 "$U/topic/ota/device/download/a1OtaHilPK0/dev-0002")
echo "$out" | grep -q '4.02\|got RST' || die "a 5-byte Block2 not refused ($out)" # libcoap: RST
grep -q '"ev":"coap.stack".*option 23 has bad length 5' "$T/c/events.jsonl" || die "no coap.stack event for the bad Block2"
out=$(cc -m post -O 61,"$tok" -O 23,0x07 "$U/topic/ota/device/download/a1OtaHilPK0/dev-0002")
echo "$out" | grep -q '4.00' || die "SZX 7 not refused ($out)"
grep -q '"ev":"coap.bad_request".*SZX 7 is reserved' "$T/c/events.jsonl" || die "no coap.bad_request event"
out=$(cc -m post -e '{"id":0,"params":{"version":"app-1.0.0"}}' -O 61,"$tok" "$U/topic/ota/device/inform/a1OtaHilPK0/dev-0002")
echo "$out" | grep -q '4.0' && die "the cloud stopped answering after bad input ($out)"
dport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["coaps_port"])' "$T/c/cloud.json")
out=$(cc -u 'a1OtaHilPK0&dev-0002' -k wrong-key -m post -e '{}' "coaps://127.0.0.1:$dport/auth")
echo "$out" | grep -q token && die "DTLS with a wrong key answered ($out)"
python3 - "$T/c/events.jsonl" <<'PY' || die "the wrong DTLS key: no coap.dtls_psk, or a session"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
psk = [i for i, e in enumerate(evs) if e["ev"] == "coap.dtls_psk"]
assert psk and not any(e["ev"] in ("coap.dtls_connected", "coap.auth") for e in evs[psk[-1]:])
PY
out=$(cc -u 'a1OtaHilPK0&dev-0002' -k secret-of-b -m post -e "$(auth dev-0002 "$(sign x dev-0002 secret-of-b)")" "coaps://127.0.0.1:$dport/auth")
echo "$out" | grep -q token || die "DTLS with the device secret refused ($out)"
kill -0 $cloud_pid || die "the cloud died"
echo "coap: ok"

# Firmware with its own IP stack (docs/qemu.md, "Own IP stack on the
# LAN9118"): build/qemu/nettest.elf drives QEMU's LAN9118 with -nic user
# (slirp: the host's 127.0.0.1 is 10.0.2.2 in the guest) through
# sim/qemu/net's driver and TCP/IP stack, against a TCP server this test
# starts on a free loopback port. A connection to a port nobody listens on
# is refused quickly; 1 MiB of a seeded pattern from the host is checked
# byte by byte and by CRC-32 against the host's, then the host's close;
# two connections at once (256 KiB in, 64 KiB out, the host checks the
# upload and answers with its CRC-32); two downloads at once (256 KiB each,
# both windows open towards the one RX FIFO); the same with 2 % of the frames
# dropped on purpose (retransmission must recover every byte); `-nic user`
# without a model; a NIC model the board has not is refused by QEMU; bad
# arguments are exit 2.
. "$(dirname "$0")/lib.bash"
command -v qemu-system-arm >/dev/null || { echo "SKIP: qemu-system-arm is not installed (scripts/install-deps.sh)"; exit 0; }
command -v arm-none-eabi-gcc >/dev/null || { echo "SKIP: arm-none-eabi-gcc is not installed (scripts/install-deps.sh)"; exit 0; }
elf="$(dirname "$OTAHIL")/../qemu/nettest.elf"
[ -f "$elf" ] || die "no $elf (make qemu-fw)"
seed=${OTAHIL_NET_SEED:-20261122}
echo "seed $seed"

# The host's side: one line per connection, "DOWN n seed" (send the pattern,
# close) or "UP n seed" (read n bytes, check them, answer, close). Every
# connection's result goes into the log, one line each.
cat >"$T/server.py" <<'PY'
import array, socket, sys, threading, zlib
def pattern(n, seed):
    a, x = array.array('I', bytes(4 * ((n + 3) // 4))), seed
    for i in range(len(a)):
        x = (x * 1664525 + 1013904223) & 0xffffffff
        a[i] = x
    if sys.byteorder != 'little':
        a.byteswap()
    return a.tobytes()[:n]
lock = threading.Lock()
def log(line):
    with lock:
        with open(sys.argv[1], 'a') as f:
            f.write(line + '\n')
def serve(c):
    try:
        f = c.makefile('rb')
        verb, n, seed = f.readline().decode().split()
        n, seed = int(n), int(seed)
        want = pattern(n, seed)
        if verb == 'DOWN':
            c.sendall(want)
            log('DOWN %d crc32 %08x' % (n, zlib.crc32(want)))
        else:
            data = f.read(n)
            if data == want:
                c.sendall(b'OK %08x\n' % zlib.crc32(data))
                log('UP %d ok crc32 %08x' % (n, zlib.crc32(data)))
            else:
                bad = next((i for i in range(len(data)) if data[i] != want[i]), len(data))
                c.sendall(b'BAD %d\n' % bad)
                log('UP %d BAD at %d' % (n, bad))
        f.close()
    except Exception as e:
        log('ERROR %r' % (e,))
    finally:
        c.close()
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(8)
closed = socket.socket()          # a free port nobody listens on
closed.bind(('127.0.0.1', 0))
print(s.getsockname()[1], closed.getsockname()[1], flush=True)
closed.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
srv=
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null; cleanup' EXIT
python3 "$T/server.py" "$T/host.log" >"$T/ports" 2>"$T/server.err" &
srv=$!
for _ in $(seq 50); do [ -s "$T/ports" ] && break; sleep 0.1; done
read -r port closed <"$T/ports" || die "the test server did not start: $(cat "$T/server.err")"

# boot NAME NIC ARGS...: one QEMU run of nettest.elf, its console in $T/NAME.out
boot() {
  local name=$1 nic=$2 args="" a; shift 2
  for a in nettest "$@"; do args="$args,arg=$a"; done
  timeout 120 qemu-system-arm -M mps2-an385 -display none -monitor none -serial stdio $nic \
    -kernel "$elf" -semihosting-config "enable=on,target=native$args" >"$T/$name.out" 2>&1
  local rc=$?
  sed "s/^/  $name| /" "$T/$name.out"
  return $rc
}

# 1 MiB in, then two connections at once; the guest checks every byte
: >"$T/host.log"
boot clean "-nic user,model=lan9118" "$port" "$closed" "$seed" 1048576 65536 ||
  die "nettest failed on a clean link (exit $?)"
grep -q '^nettest: PASS' "$T/clean.out" || die "no PASS line"
grep -q "^nettest: connect to closed port $closed: -111 in " "$T/clean.out" || die "the closed port was not refused"
python3 - "$T/clean.out" "$T/host.log" <<'PY' || die "the guest's and the host's CRC-32 differ"
import re, sys
out, host = open(sys.argv[1]).read(), open(sys.argv[2]).read().split('\n')
ms = int(re.search(r'connect to closed port \d+: -111 in (\d+) ms', out).group(1))
assert ms < 2000, ms                                  # refused at once, not timed out
m = re.search(r'nettest: down 1048576 bytes crc32 0x([0-9a-f]{8}) in (\d+) ms: (\d+) KiB/s', out)
assert m, out
assert 'DOWN 1048576 crc32 %s' % m.group(1) in host, host
m2 = re.search(r'two connections: down 262144 crc32 0x([0-9a-f]{8}), up 65536 crc32 0x([0-9a-f]{8}), (\d+) turns', out)
assert m2 and int(m2.group(3)) > 0, out
assert 'DOWN 262144 crc32 %s' % m2.group(1) in host, host
assert 'UP 65536 ok crc32 %s' % m2.group(2) in host, host
assert 'nettest: host says OK %s' % m2.group(2) in out, out
m3 = re.search(r'two downloads: 262144 crc32 0x([0-9a-f]{8}) and 262144 crc32 0x([0-9a-f]{8}) in', out)
assert m3, out
assert m3.group(1) != m3.group(2), out               # two patterns (seeds), not one twice
assert 'DOWN 262144 crc32 %s' % m3.group(1) in host and 'DOWN 262144 crc32 %s' % m3.group(2) in host, host
assert not any(l.startswith(('ERROR', 'UP 65536 BAD')) for l in host), host
print('qemu_net: 1 MiB host->guest in %s ms (guest clock, first byte to close): %s KiB/s' % (m.group(2), m.group(3)))
PY

# 2 % of the frames dropped both ways (chosen from the seed): every byte still arrives
: >"$T/host.log"
boot lossy "-nic user,model=lan9118" "$port" "$closed" "$((seed + 1))" 131072 65536 20 ||
  die "nettest failed with 2 % frame loss (exit $?)"
grep -q '^nettest: PASS' "$T/lossy.out" || die "no PASS line with loss"
python3 - "$T/lossy.out" "$T/host.log" <<'PY' || die "the lossy run did not lose and recover"
import re, sys
out, host = open(sys.argv[1]).read(), open(sys.argv[2]).read()
st = re.search(r'retransmits (\d+), out of order (\d+), dropped \d+, lost on purpose (\d+)', out)
assert st and int(st.group(3)) > 0, out               # frames were lost
assert int(st.group(1)) + int(st.group(2)) > 0, out   # and the stack saw it: resent or re-acknowledged
m = re.search(r'up 65536 crc32 0x([0-9a-f]{8})', out)
assert m and 'UP 65536 ok crc32 %s' % m.group(1) in host, (out, host)
PY

# -nic user alone wires the board's LAN9118 too; another model is refused by QEMU
boot nomodel "-nic user" "$port" "$closed" "$((seed + 2))" 65536 16384 || die "nettest failed with -nic user"
grep -q '^nettest: PASS' "$T/nomodel.out" || die "no PASS line with -nic user"
boot e1000 "-nic user,model=e1000" "$port" "$closed" "$seed" 4096 4096 && die "QEMU took an e1000 on mps2-an385"
grep -q 'Unsupported NIC model: e1000' "$T/e1000.out" || die "no refusal of the e1000"

# bad arguments: one usage line, exit 2
boot badargs "-nic user" "$port" 0 "$seed" 1 1
[ $? -eq 2 ] || die "CLOSED_PORT 0 was not exit 2"
grep -q '^nettest: usage: nettest PORT CLOSED_PORT SEED DOWN_BYTES UP_BYTES' "$T/badargs.out" || die "no usage line"
kill -0 "$srv" || die "the test server died"
echo "qemu_net: ok"

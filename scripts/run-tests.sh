#!/usr/bin/env bash
# run-tests.sh BUILD - runs the unit tests (cmocka) and the end-to-end tests
# against the binaries in BUILD, and ends with the line "N passed, N failed".
set -u
build=${1:-build/san}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export OTAHIL="$root/$build/bin/otahil"
export OTAHIL_BOARDS="$root/boards"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir="$root/$build/test-logs"
mkdir -p "$logdir"
passed=0 failed=0 failures=()

for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  log="$logdir/$name.log"
  timeout 600 "$t" >"$log" 2>&1
  rc=$?
  p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then failures+=("$name (log: $log)"); echo "FAIL $name ($p passed, $f failed)"; else echo "ok   $name ($p tests)"; fi
done

for t in tests/e2e/*.sh; do
  name=$(basename "$t" .sh)
  log="$logdir/e2e-$name.log"
  start=$(date +%s)
  if timeout 300 bash "$t" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "ok   e2e/$name ($(( $(date +%s) - start )) s)"
  else
    failed=$((failed + 1)); failures+=("e2e/$name (log: $log)"); echo "FAIL e2e/$name"
    tail -n 15 "$log" | sed 's/^/     | /'
  fi
done

if [ ${#failures[@]} -gt 0 ]; then
  echo "failed:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# screenshot-report.sh REPORT.html OUT.png [WIDTHxHEIGHT] - renders a certification
# report (docs/report.md) with headless Chromium, to see how it reads in a browser.
# The default window is 1280x2400; the page is cut at its height.
# Optional: nothing else depends on Chromium (apt-get install -y --no-install-recommends chromium).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
report=$1 out=$2 size=${3:-1280x2400}
if [ ! -r "$report" ]; then
  echo "$0: $report: cannot read the report" >&2
  exit 2
fi
if ! [[ $size =~ ^[0-9]+x[0-9]+$ ]]; then
  echo "$0: $size: the window size must be WIDTHxHEIGHT, e.g. 1280x2400" >&2
  exit 2
fi
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "$0: chromium is not installed; as root: apt-get install -y --no-install-recommends chromium" >&2
  exit 2
fi
abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
tmp="$out.tmp.$$.png"
profile=$(mktemp -d)
trap 'rm -rf "$profile" "$tmp"' EXIT
# --no-sandbox: root in a container has no user namespaces for the sandbox.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --screenshot="$tmp" --window-size="${size/x/,}" "file://$abs" >/dev/null 2>&1 || true
if [ ! -s "$tmp" ]; then
  echo "$0: chromium made no screenshot of $abs" >&2
  exit 1
fi
mv "$tmp" "$out"
echo "$out"

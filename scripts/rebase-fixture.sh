#!/usr/bin/env bash
# rebase-fixture.sh REV NAME... - after the reference sources change, carry
# fixtures/ports/NAME.patch over: apply it to the sources as they were at git
# revision REV (where it applied) and rewrite it as a diff against the sources
# in the work tree. The header lines (Bug/Field/Expect/Sweep) are kept.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 REV NAME..." >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
rev=$1; shift
files=$(sed -n 's/^PATCHABLE := //p' "$root/Makefile")
for name in "$@"; do
  p="$root/fixtures/ports/$name.patch"
  [ -f "$p" ] || { echo "$0: $p: no such fixture" >&2; exit 2; }
  t=$(mktemp -d)
  for f in $files; do
    mkdir -p "$t/a/$(dirname "$f")" "$t/b/$(dirname "$f")"
    cp "$root/$f" "$t/a/$f"
    git -C "$root" show "$rev:$f" > "$t/b/$f"
  done
  (cd "$t/b" && patch -s -p1 < "$p") || { echo "$0: $name does not apply at $rev" >&2; rm -rf "$t"; exit 1; }
  awk '/^---/ { exit } { print }' "$p" > "$t/new"
  (cd "$t" && for f in $files; do diff -u --label "a/$f" --label "b/$f" "a/$f" "b/$f" || true; done) >> "$t/new"
  mv "$t/new" "$p"
  rm -rf "$t"
  echo "rebased $name onto the work tree"
done

#!/usr/bin/env bash
# install-deps.sh - installs the Debian packages otahil needs, if missing.
#
#   scripts/install-deps.sh              install whatever is missing
#   scripts/install-deps.sh --check      exit 0 if all present, 1 otherwise (no changes)
#   scripts/install-deps.sh --check-build  same, for the packages a build needs
#
# Idempotent: nothing happens when everything is installed. Installing needs
# root; otherwise it names what is missing and exits 1.
set -euo pipefail

BUILD_PKGS=(build-essential pkg-config patch
            mosquitto mosquitto-clients libmosquitto-dev mosquitto-dev
            libcivetweb-dev libssl-dev libcjson-dev libinih-dev libcmocka-dev libcoap3-dev
            gcc-arm-none-eabi libnewlib-arm-none-eabi)
RUN_PKGS=(libcoap3-bin qemu-system-arm curl)

mode=install
case "${1:-}" in
  --check) mode=check ;;
  --check-build) mode=check; RUN_PKGS=() ;;
  "") ;;
  *) echo "install-deps.sh: unknown option '$1' (use --check or --check-build)" >&2; exit 2 ;;
esac

missing=()
for p in "${BUILD_PKGS[@]}" "${RUN_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  [ "$mode" = check ] || echo "install-deps: all packages present"
  exit 0
fi
if [ "$mode" = check ]; then
  echo "install-deps: missing: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps: run as root (sudo scripts/install-deps.sh) to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"

#!/usr/bin/env bash
# The system tools the test suite needs, installed with apt-get only where missing:
#   chromium                 tests/test_browser.py drives /usr/bin/chromium (never a downloaded browser)
#   espeak-ng                speaks the test media of tests/test_readable_media.py and bench/
#   openjdk-17-jre-headless  java for pycocoevalcap's PTBTokenizer and METEOR
# Usage: bash scripts/install-test-deps.sh [--dry-run]
# Does nothing when all three are present. Installing needs root (or sudo without a
# password) on Debian; otherwise it says what to install and exits 1.
set -euo pipefail

dry_run=0
case "${1:-}" in
  "") ;;
  --dry-run) dry_run=1 ;;
  *) echo "usage: bash scripts/install-test-deps.sh [--dry-run]" >&2; exit 2 ;;
esac

missing() {
  local packages=()
  [ -x /usr/bin/chromium ] || packages+=(chromium)
  command -v espeak-ng >/dev/null 2>&1 || packages+=(espeak-ng)
  command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
  echo "${packages[@]}"
}

packages=$(missing)
if [ -z "$packages" ]; then
  echo "install-test-deps: chromium, espeak-ng and java are installed"
  exit 0
fi
install="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages"
if [ "$dry_run" = 1 ]; then
  echo "install-test-deps: missing: $packages; would run: $install"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing: $packages, and apt-get was not found (Debian expected" \
    "expected); install them with this system's package manager" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then
  run=(bash -c "$install")
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run=(sudo bash -c "$install")
else
  echo "install-test-deps: missing: $packages. Installing needs root; run as root:" >&2
  echo "  $install" >&2
  exit 1
fi
echo "install-test-deps: installing $packages"
"${run[@]}"
still=$(missing)
if [ -n "$still" ]; then
  echo "install-test-deps: still missing after apt-get: $still" >&2
  exit 1
fi
echo "install-test-deps: installed $packages"

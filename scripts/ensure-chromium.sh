#!/usr/bin/env bash
# A Chromium for Playwright: the system package where we can install it
# (Playwright's own browser download fails on closed networks), else Playwright's.
set -euo pipefail
PY=${1:-python3}
for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -x "$candidate" ]; then exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium (for the Playwright tests)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "No system Chromium: installing Playwright's own build..." >&2
"$PY" -m playwright install chromium

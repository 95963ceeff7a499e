#!/usr/bin/env bash
# A redis-server for the fleet tests: Debian's package where we can install it.
# Tests start their own server (free loopback port, no persistence); nothing
# here starts or enables a system service.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
for candidate in /usr/bin/redis-server /usr/sbin/redis-server; do
  if [ -x "$candidate" ]; then exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's redis-server (for the fleet tests)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # --no-install-recommends: the server binary only; the tests run their own instance.
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  # Debian's postinst may start a system instance on 6379: the tests never use it.
  exit 0
fi
echo "No redis-server found and cannot install it here (not root, or no apt-get):" >&2
echo "install it (e.g. 'sudo apt-get install redis-server') to run the fleet tests;" >&2
echo "without it they are skipped (and fail under CI=true)." >&2
exit 0

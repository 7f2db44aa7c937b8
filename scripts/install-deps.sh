#!/usr/bin/env bash
# Installs the Debian packages given as arguments when any of them is missing.
# As root it runs apt-get directly, otherwise through sudo when available; failing both, it prints
# the exact command to run and exits non-zero.
set -euo pipefail
missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
echo "Installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sh -c "$cmd"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo sh -c "$cmd"
else
  echo "error: missing packages and no root access. Run as root:" >&2
  echo "  $cmd" >&2
  exit 1
fi

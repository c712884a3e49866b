#!/usr/bin/env bash
# Make sure Debian's Chromium and its WebDriver are installed: the browser tests
# drive them. No tool downloads a browser of its own.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "browser: chromium and chromium-driver are missing, and installing them needs root." >&2
  exit 1
fi
echo "browser: installing Debian's chromium and chromium-driver"
"$(dirname "$0")/apt-install.sh" chromium chromium-driver
chromium --version 2>/dev/null

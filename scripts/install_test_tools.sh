#!/usr/bin/env bash
# Tools the test suite uses beyond the venv: headless Chromium renders the data card.
# Installed from Debian's packages when missing and running as root; otherwise the
# browser test skips and says so.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then exit 0; fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "installing chromium (headless browser for the data-card test)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
  echo "chromium not installed and not root: the data-card browser test will skip (sudo apt-get install chromium)" >&2
fi

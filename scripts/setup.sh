#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, quietly and idempotently:
# system packages (only those missing), and the browser-test node modules.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }
have_cmd Xvfb      || need+=(xvfb)
have_cmd xterm     || need+=(xterm)
have_cmd xdpyinfo  || need+=(x11-utils)
have_cmd chromium  || need+=(chromium)
have_cmd nasm      || need+=(nasm)
have_cmd mcs       || need+=(mono-mcs)
have_cmd mono      || need+=(mono-runtime)
have_cmd valgrind  || need+=(valgrind)
have_cmd pkg-config || need+=(pkg-config)
have_cmd cmake     || need+=(cmake)
have_cmd clang     || need+=(clang)
have_cmd node      || need+=(nodejs)
have_cmd npm       || need+=(npm)
have_cmd redis-server || need+=(redis-server)
have_pkg fonts-dejavu-core || need+=(fonts-dejavu-core)
have_pkg xfonts-base || need+=(xfonts-base)
have_pkg libx11-dev || need+=(libx11-dev)   # tests/c/app_window.c (issue 13)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "setup: installing browser-test node modules" >&2
  (cd tests/browser && (npm ci --silent --no-audit --no-fund || npm install --silent --no-audit --no-fund)) >/dev/null
fi

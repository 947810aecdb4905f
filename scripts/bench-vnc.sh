#!/usr/bin/env bash
# Runs only the VNC comparison of glance-bench: installs what it needs on Debian when missing
# (Xvfb, xterm, xdotool, xmessage, x11vnc, TigerVNC's x0vncserver, the DejaVu font), builds
# glance-share and glance-bench in release mode, and runs `glance-bench --vnc-only` (extra arguments are
# passed on, e.g. --out PATH, --workloads mixed,small). The keys of the workloads run are
# updated in target/glance-bench.json (four workloads, ~12 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd Xvfb     || need+=(xvfb)
have_cmd xterm    || need+=(xterm)
have_cmd xdotool  || need+=(xdotool)
have_cmd xmessage || need+=(x11-utils)
have_cmd x11vnc   || need+=(x11vnc)
have_cmd x0vncserver || need+=(tigervnc-scraping-server)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have_cmd apt-get; then
    echo "bench-vnc: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || \
      echo "bench-vnc: could not install ${need[*]}; glance-bench will say what is missing" >&2
  else
    echo "bench-vnc: missing ${need[*]} (install them as root); glance-bench will say so" >&2
  fi
fi

cargo build --release -q -p glance-cli -p glance-bench
exec target/release/glance-bench --vnc-only "$@"

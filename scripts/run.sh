#!/usr/bin/env bash
# The main job: a local glance-server plus a visitor sharing this machine's screen (or, with
# no screen, a synthetic display). Prints the session key and the agent URL to open.
# Ctrl-C ends the session and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet -p glance-server -p glance-cli

state=${GLANCE_STATE_DIR:-$PWD/state}
mkdir -p "$state"
listen=${GLANCE_LISTEN:-127.0.0.1:8443}
# Beyond loopback the server needs a config file of groups (GLANCE_CONFIG) or, on a network
# you trust, GLANCE_DEV_INSECURE=1: without a config its /agent page hands out the
# development agent token.
server_args=()
if [ -n "${GLANCE_CONFIG:-}" ]; then server_args+=(--config "$GLANCE_CONFIG"); fi
if [ "${GLANCE_DEV_INSECURE:-}" = 1 ]; then server_args+=(--dev-insecure); fi
fifo=$(mktemp -u)
mkfifo "$fifo"
target/release/glance-server --listen "$listen" --state-dir "$state" "${server_args[@]}" >"$fifo" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$fifo"' EXIT
exec 3<"$fifo"
read -r ready <&3
cat <&3 >/dev/null &
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$ready" "$1"; }
session_url=$(field session_url); ca=$(field ca_cert); agent_url=$(field agent_url); group=$(field group_id)

display_args=()
if [ -n "${DISPLAY:-}" ] && xdpyinfo >/dev/null 2>&1; then
  echo "Sharing X display $DISPLAY" >&2
else
  echo "No screen found: sharing a synthetic 1280x800 display" >&2
  display_args=(--synthetic 1280x800)
fi
echo "Trust the development CA in your browser, or accept its certificate: $ca" >&2
target/release/glance-share --service-url "$session_url" --ca-cert "$ca" --group "$group" \
  --agent-url "$agent_url" --persist "${display_args[@]}" "$@" >/dev/null

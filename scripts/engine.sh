#!/usr/bin/env bash
# The cluster engine (issue 16): a private Redis on a free loopback port, for trying two
# glance-server instances by hand. Installs redis-server quietly when it is missing.
#   scripts/engine.sh start DIR   starts it (state and pid in DIR), prints redis://127.0.0.1:PORT
#   scripts/engine.sh stop DIR    stops the one started in DIR
# Then: glance-server --cluster redis://127.0.0.1:PORT --state-dir S --listen 127.0.0.1:0 ...
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
case "$cmd" in
  start)
    if ! command -v redis-server >/dev/null 2>&1; then
      echo "engine: installing redis-server" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    fi
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    redis-cli -p "$port" ping >/dev/null
    echo "redis://127.0.0.1:$port"
    ;;
  stop)
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" && rm -f "$dir/redis.pid"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

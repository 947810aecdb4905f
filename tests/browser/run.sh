#!/usr/bin/env bash
# The browser tests: the agent viewer page in headless Chromium.
#   - installs what is missing, quietly and idempotently (Debian's chromium, the node modules);
#   - builds glance-server, glance-loginkey (glance-auth) and glance-share (glance-cli);
#   - runs node's test runner on the test files, one file at a time.
# Every wait inside the tests is bounded, and every process they start is killed at the end.
# Extra arguments go to `node --test` (e.g. --test-name-pattern=decoder).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  echo "browser tests: installing chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "browser tests: installing nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "browser tests: installing node modules" >&2
  (cd "$here" && { npm ci --silent --no-audit --no-fund || npm install --silent --no-audit --no-fund; }) >/dev/null
fi

cd "$root"
# Binaries come from CARGO_TARGET_DIR when it is set (helpers.mjs looks there too).
target="${CARGO_TARGET_DIR:-$root/target}"
echo "browser tests: cargo build -p glance-server" >&2
cargo build --quiet -p glance-server
echo "browser tests: cargo build -p glance-cli -p glance-auth -p glance-ffi" >&2
cargo build --quiet -p glance-cli -p glance-auth -p glance-ffi
# The C visitor the presence flow drives (the C ABI over libglance).
mkdir -p "$target/ffi-tests"
cc -std=c11 -Wall -Wextra -Werror -pedantic -D_DEFAULT_SOURCE -Iinclude tests/c/visitor_driver.c \
  -o "$target/ffi-tests/visitor_driver" -L"$target/debug" -lglance -lpthread -ldl -lm \
  -Wl,-rpath,"$target/debug"

cd "$here"
exec node --test --test-concurrency=1 "$@" \
  decoder.test.mjs viewer_protocol.test.mjs viewer_fake.test.mjs viewer_cursor.test.mjs \
  viewer_share.test.mjs agent_api.test.mjs presence_flow.test.mjs viewer_rc.test.mjs \
  rc_typing.test.mjs

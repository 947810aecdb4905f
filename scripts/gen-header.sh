#!/usr/bin/env bash
# Regenerates include/glance.h from crates/glance-ffi with cbindgen (installed if missing).
# With --check, fails when the committed header differs from a fresh generation.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cbindgen >/dev/null 2>&1 || cargo install cbindgen --locked --quiet
out=include/glance.h
[ "${1:-}" = "--check" ] && out=$(mktemp)
cbindgen --quiet --config crates/glance-ffi/cbindgen.toml --crate glance-ffi --output "$out" crates/glance-ffi
if [ "${1:-}" = "--check" ]; then
  if ! cmp -s "$out" include/glance.h; then
    diff -u include/glance.h "$out" | head -40 >&2 || true
    echo "include/glance.h is stale: run scripts/gen-header.sh and commit it" >&2
    rm -f "$out"; exit 1
  fi
  rm -f "$out"; echo "include/glance.h is up to date"
fi

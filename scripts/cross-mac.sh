#!/usr/bin/env bash
# Type-checks the macOS backend of glance-platform for both Apple targets, on Linux.
#
# There is no Apple SDK or linker here, so nothing is linked or run: `cargo check` and
# `cargo clippy -D warnings` only, with std built from Debian's 1.96 sources (-Zbuild-std).
# See ../shared/notes/cross-targets.md for why this toolchain (rustup's 1.95 cannot build
# Debian's 1.96 std sources) and why only glance-platform (ring's C build cannot run for
# Apple targets; glance-platform has no TLS dependency).
#
# usage: scripts/cross-mac.sh
# env: GLANCE_XCI_DIR, the cross builds' target dir, kept between runs and clones (default
# ~/.cache/glance-xci: std and the objc2 crates take about 17 min to build cold on a loaded
# 2-core machine, seconds once built).
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
step() { echo "=== [$((SECONDS - t0))s] $*"; }
timed() {
  local s=$SECONDS
  "$@"
  echo "--- $((SECONDS - s))s: ${*: -4}"
}

pkgs=(rustc-web cargo-web rust-web-src rust-web-clippy)
if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
  step "apt-get install ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# Debian's rustc/cargo 1.96 in /usr/bin, ahead of rustup's ~/.cargo/bin.
export PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export RUSTC_BOOTSTRAP=1 # lets the stable 1.96 toolchain take -Z flags
export CARGO_TARGET_DIR="${GLANCE_XCI_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-xci}"
mkdir -p "$CARGO_TARGET_DIR"
CARGO=/usr/bin/cargo
BUILD_STD=(-Zbuild-std=std,panic_abort)
"$CARGO" -V
"$RUSTC" -V

for t in aarch64-apple-darwin x86_64-apple-darwin; do
  step "cargo check -p glance-platform --target $t"
  timed "$CARGO" check "${BUILD_STD[@]}" -p glance-platform --all-targets --target "$t"
  step "cargo clippy -p glance-platform --target $t"
  timed "$CARGO" clippy "${BUILD_STD[@]}" -p glance-platform --all-targets --target "$t" -- -D warnings
done
step "done: macOS type-check and clippy clean for both targets"

#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust workspace (unit, integration, end-to-end
# over TLS on 127.0.0.1, X11 capture under Xvfb), a short run of every fuzz target, and the
# headless-Chromium browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build (binaries used by the cross-process tests)"
cargo build --workspace --bins --quiet

echo "== Windows: cross-build, clippy, tests and a C visitor under Wine (scripts/cross-windows.sh)"
bash scripts/cross-windows.sh

echo "== macOS: type-check and clippy of the platform crate, both targets (compiled, not run)"
bash scripts/cross-mac.sh

echo "== Rust tests (the X11 tests start their own Xvfb)"
cargo test --workspace --quiet

echo "== fuzz (short bounded run)"
bash scripts/fuzz.sh 10

echo "== C ABI tests (C, C++, C# on Mono, sanitizers, valgrind, stress)"
bash tests/ffi/run.sh

echo "== browser tests (headless Chromium)"
bash tests/browser/run.sh

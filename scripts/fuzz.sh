#!/usr/bin/env bash
# Builds every fuzz target of fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer, debug
# assertions) and runs each for SECONDS (default 15) with one worker, starting from a
# temporary copy of the committed seed corpus (fuzz/corpus/<target>/, never grown by a run).
# Fails if any target crashes, leaks or hangs; prints the executions of each target.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Crashing inputs are kept in fuzz/artifacts/<target>/; reproduce one with
#   fuzz/target/<host>/release/<target> fuzz/artifacts/<target>/crash-...
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags.
# docs/FUZZING.md describes the targets.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-15}"
shift || true

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
# The same flags for every build, so that a later `cargo fuzz run` with them rebuilds nothing.
# 16 codegen units build about twice as fast as cargo-fuzz's default of 1 for a small loss
# of executions per second.
build_flags=(--debug-assertions --codegen-units 16)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

start=$(date +%s)
echo "fuzz: building ${#targets[@]} targets" >&2
cargo fuzz build "${build_flags[@]}" >/dev/null 2>fuzz/build.log || {
  cat fuzz/build.log >&2
  exit 1
}
echo "fuzz: built in $(($(date +%s) - start)) s" >&2

host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="fuzz/target/$host/release"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
rows=()
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "fuzz/artifacts/$t"
  if [ -d "fuzz/corpus/$t" ]; then
    cp -R "fuzz/corpus/$t/." "$work/corpus/$t/"
  fi
  log="$work/$t.log"
  echo "fuzz: $t for $secs s" >&2
  if ASAN_OPTIONS="detect_odr_violation=0:${ASAN_OPTIONS:-}" "$bin_dir/$t" \
    "$work/corpus/$t" \
    -max_total_time="$secs" -timeout=60 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    tail -n 60 "$log" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  units=$(find "$work/corpus/$t" -type f | wc -l)
  rows+=("$(printf '%-22s %-7s %12s %9s %8s' "$t" "$status" "${execs:-?}" "${rate:-?}" "$units")")
done

printf '%-22s %-7s %12s %9s %8s\n' target result executions exec/s corpus
printf '%s\n' "${rows[@]}"
echo "fuzz: ${#targets[@]} targets, $secs s each, $(($(date +%s) - start)) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi

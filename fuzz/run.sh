#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), one after another, starting from the committed seeds
# (fuzz/seeds/<target>) and growing fuzz/corpus/<target>. Crashes land in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS]            # needs `cargo install cargo-fuzz`; works on stable Rust
#   FUZZ_TARGETS="xml_decode" fuzz/run.sh 60
#   FUZZ_SANITIZER=address fuzz/run.sh    # AddressSanitizer: needs a nightly toolchain (cargo +nightly)
#
# Exits non-zero if any target found a crash, a panic, a timeout or a leak.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
targets="${FUZZ_TARGETS:-xml_decode json_decode msgpack_decode http_request}"
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
  exit 2
fi

failed=()
for target in $targets; do
  echo "=== $target: ${seconds}s"
  mkdir -p "fuzz/corpus/$target"
  # -timeout: an input taking longer than 10 s is a hang; -rss_limit_mb: a run growing past 2 GiB is a leak
  # or an unbounded allocation.
  if ! cargo fuzz run "$target" --sanitizer "$sanitizer" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
    failed+=("$target")
  fi
done

if ((${#failed[@]})); then
  echo "fuzzing found problems in: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: no crash in ${seconds}s per target ($targets)"

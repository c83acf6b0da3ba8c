#!/usr/bin/env bash
# Run one fuzz target for a while: fuzz/run.sh TARGET SECONDS
#
# Uses cargo-fuzz (installed from crates.io when missing) on the stable
# toolchain: RUSTC_BOOTSTRAP=1 lets it pass the sanitizer flags that
# otherwise need nightly. New inputs that raise coverage go to a scratch
# corpus under fuzz/target/ (merge the interesting ones into
# fuzz/corpus/TARGET by hand); crashes go to fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -ne 2 ]; then
    echo "usage: fuzz/run.sh TARGET SECONDS (targets: $(ls fuzz_targets | sed 's/\.rs$//' | tr '\n' ' '))" >&2
    exit 2
fi
target=$1 seconds=$2
[ -f "fuzz_targets/$target.rs" ] || { echo "fuzz/run.sh: no target $target" >&2; exit 2; }

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz

scratch=target/corpus/$target
mkdir -p "$scratch"
args=(-max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10)
[ -f "dict/$target.dict" ] && args+=(-dict="dict/$target.dict")

RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "$scratch" "corpus/$target" -- "${args[@]}"

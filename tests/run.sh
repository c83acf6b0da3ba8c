#!/usr/bin/env bash
# The one test command of stripedns (README and .ci/run call it).
#
# Makes sure the tools the tests need are there, then builds once and runs
# every check: formatting, clippy (warnings are errors, with and without the
# `fault-injection` feature), all tests of the workspace built with that
# feature (unit, integration, the food-taster pipeline, differential against
# Knot DNS and NSD, doc tests), and the docs (warnings are errors). Prints
# the elapsed time.
#
# Missing Knot DNS or NSD (or a C compiler) are installed
# when running as root on Debian (apt-get update once, non-interactive);
# otherwise the script says what to install and exits 1. `dig` is not
# needed: the tests speak DNS themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'tests/run.sh: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

# Rust installed by rustup for this user but not on PATH (fresh shells, CI).
if ! have cargo && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

packages=()
have knotd || packages+=(knot)
have nsd || packages+=(nsd)
have cc || packages+=(gcc libc6-dev)

if [ "${#packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        die "missing packages: ${packages[*]}; install them (as root: apt-get install -y ${packages[*]}) and run again"
    fi
    have apt-get || die "missing packages: ${packages[*]}, and no apt-get to install them with"
    say "installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' init scripts from starting system-wide daemons.
    policy=/usr/sbin/policy-rc.d
    made_policy=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=yes
    fi
    trap 'if [ "$made_policy" = yes ]; then rm -f "$policy"; fi' EXIT
    apt-get update </dev/null
    apt-get install -y --no-install-recommends "${packages[@]}" </dev/null
    if [ "$made_policy" = yes ]; then
        rm -f "$policy"
        made_policy=no
    fi
fi

have cargo || die "cargo not found; install the Rust toolchain (rustup) and run again"
if command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi

for tool in knotd nsd; do
    have "$tool" || die "$tool still missing after installation"
done

say "cargo fmt --all --check"
cargo fmt --all --check

# The tests build with the engines' load faults (`fault-injection`, never a
# default): the pipeline tests push bundles that crash, hang or balloon the
# food taster. Clippy also looks at the build without them.
features=(--features fault-injection)

say "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

say "cargo clippy --workspace --all-targets ${features[*]} -- -D warnings"
cargo clippy --workspace --all-targets "${features[@]}" -- -D warnings

say "cargo build --workspace --all-targets ${features[*]}"
cargo build --workspace --all-targets "${features[@]}"

say "cargo test --workspace --all-targets ${features[*]}"
cargo test --workspace --all-targets "${features[@]}"

say "cargo test --workspace --doc ${features[*]}"
cargo test --workspace --doc "${features[@]}"

say "cargo doc --no-deps (warnings are errors)"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps

printf '\ntests/run.sh: everything passed in %dm%02ds\n' $((SECONDS / 60)) $((SECONDS % 60))

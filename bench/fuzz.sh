#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/*.rs) for SECONDS each (default
# 600), one after another, on a scratch copy of its committed corpus
# (fuzz/corpus/<target>, which is left as it is), at nice 19.
#
#   bash bench/fuzz.sh [SECONDS]
#
# Prints per target: executions per second and total runs (libFuzzer's
# final stats) and whether a crash, timeout or leak was found; exits
# non-zero if any target found one, naming the input it saved under
# fuzz/artifacts/<target>/ (replay it with
# `cargo +nightly fuzz run <target> <file>`). Installs the nightly
# toolchain and cargo-fuzz when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: bash bench/fuzz.sh [SECONDS]  (SECONDS a whole number > 0, not \`$seconds')" >&2
    exit 2
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "== installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal >/dev/null
fi
if ! command -v cargo-fuzz >/dev/null && ! [[ -x $HOME/.cargo/bin/cargo-fuzz ]]; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# Optimised, with debug assertions and overflow checks (an overflow is a
# panic in a debug build of a program using the library), address
# sanitizer on (cargo-fuzz's default). Its own target dir: the sanitizer
# flags would rebuild everything in a shared one.
echo "== build"
cargo +nightly fuzz build -O --debug-assertions --target-dir fuzz/target
bin=fuzz/target/x86_64-unknown-linux-gnu/release

scratch=$(mktemp -d /tmp/pickwise-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
found=()
printf '%-16s %10s %14s %9s  %s\n' target exec/s runs seconds result
for source in fuzz/fuzz_targets/*.rs; do
    target=$(basename "$source" .rs)
    corpus=$scratch/corpus/$target
    artifacts=fuzz/artifacts/$target
    log=$scratch/$target.log
    mkdir -p "$corpus" "$artifacts"
    if [[ -d fuzz/corpus/$target ]]; then
        cp -r "fuzz/corpus/$target/." "$corpus/"
    fi
    status=0
    nice -n 19 "$bin/$target" "$corpus" \
        -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    execs=$(stat average_exec_per_sec)
    runs=$(stat number_of_executed_units)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [[ $status == 0 && -z $artifact ]]; then
        result="ok"
    else
        result="FOUND (exit $status): ${artifact:-no artifact written}"
        found+=("$target")
    fi
    printf '%-16s %10s %14s %9s  %s\n' "$target" "${execs:-?}" "${runs:-?}" "${took:-$seconds}" "$result"
    if [[ $result != ok ]]; then
        echo "---- $target: the end of libFuzzer's output"
        grep -v '^#[0-9]' "$log" | tail -n 40
        echo "----"
    fi
done

if ((${#found[@]})); then
    echo "fuzzing found inputs that fail in: ${found[*]} (under fuzz/artifacts/)" >&2
    exit 1
fi
echo "no finding in $seconds s per target"

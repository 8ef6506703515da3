#!/usr/bin/env bash
# Sizes of the example binaries: the release build (LTO, one codegen unit,
# stripped; see [profile.release]) and a statically linked musl build of the
# worker and the proxy, beside the lab's 4.55 MB Go scratch image.
#
#   bash bench/sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
rustup target add "$target" >/dev/null 2>&1
cargo build --release -q -p pickwise-programs --bin worker --bin hyper_proxy --bin tcp_forwarder
cargo build --release -q --target "$target" -p pickwise-programs --bin worker --bin hyper_proxy
size() { stat -c %s "$1" | awk '{printf "%.2f MB", $1 / 1e6}'; }
linkage() { file -b "$1" | grep -q 'static' && echo static || echo dynamic; }
printf '%-40s %10s %s\n' binary size linkage
for ex in worker hyper_proxy tcp_forwarder; do
  f=target/release/$ex
  printf '%-40s %10s %s\n' "$ex (glibc)" "$(size "$f")" "$(linkage "$f")"
done
for ex in worker hyper_proxy; do
  f=target/$target/release/$ex
  printf '%-40s %10s %s\n' "$ex (musl, static)" "$(size "$f")" "$(linkage "$f")"
done
printf '%-40s %10s %s\n' "lab's Go server (scratch image)" "4.55 MB" static

#!/usr/bin/env bash
# The lab on four hosts, replayed: four network namespaces with a worker
# each, hyper_proxy on this host, and the faults the lab has seen (a
# firewall rejecting, then dropping, a congested link, a killed worker) for
# round-robin, least-connections, peak-ewma and maglev. Needs root.
#
#   sudo bash bench/lab.sh [PHASE_SECS=10] [more lab flags]
#   e.g. sudo bash bench/lab.sh 10 --proxy-arg "--health-check http:/"
#
# Prints the table: requests, failed GETs, GETs over 2 s, p50/p99/max, time
# until the proxy took the node out and until it served again.
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${1:-10}
shift $(( $# > 0 ? 1 : 0 ))

if [ "$(id -u)" != 0 ]; then
  echo "bench/lab.sh makes network namespaces: run it as root" >&2
  exit 1
fi
PATH="$PATH:/usr/sbin:/sbin"
if ! command -v ip >/dev/null || ! command -v iptables >/dev/null || ! command -v tc >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables iproute2 >/dev/null
fi
cargo build --release -q -p pickwise-programs
target=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')}
"$target/release/lab" --replay --phase-secs "$phase" "$@"

#!/usr/bin/env bash
# The chaos soak on the lab's four hosts: load through hyper_proxy and
# tcp_forwarder side by side while a driver, on a seeded schedule, kills and
# restarts workers, switches firewalls (reject, drop, lift), flaps agents
# between drain and up and makes hosts leave and join the membership the
# proxies follow through DNS; then nginx in front of the same hosts under
# the same schedule. Needs root (network namespaces) and nginx (installed
# here when missing). See programs/src/bin/lab/chaos.rs.
#
#   sudo bash bench/chaos.sh [SECONDS=300] [more lab flags]
#   e.g. sudo bash bench/chaos.sh 300 --seed 7 --json > chaos.json
#        sudo bash bench/chaos.sh 60 --no-nginx
#
# Prints a markdown table per proxy: requests, failed GETs and POSTs by kind
# (status / transport / timeout), failures on new and on open connections,
# GET p50/p99/max, RSS and open descriptors before and after the soak; then
# the goals (0 failed GETs, RSS within 10% of before, no descriptor growth,
# no new connection failing), met or missed. A soak of SECONDS takes about
# twice that (the two passes) plus half a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift $(( $# > 0 ? 1 : 0 ))

if [ "$(id -u)" != 0 ]; then
  echo "bench/chaos.sh makes network namespaces: run it as root" >&2
  exit 1
fi
PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v ip >/dev/null && command -v tc >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
[[ " $* " == *" --no-nginx "* ]] || command -v nginx >/dev/null || need+=(nginx)
if (( ${#need[@]} )); then
  # Debian starts a service it installs unless policy-rc.d says no: nginx
  # must not listen on port 80 of every address.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
cargo build --release -q -p pickwise-programs
target=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')}
exec "$target/release/lab" --chaos "$secs" "$@"

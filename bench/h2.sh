#!/usr/bin/env bash
# HTTP/2 and gRPC through hyper_proxy beside nginx (`listen ... http2` and
# `grpc_pass`): four workers on loopback answering gRPC over h2c, each proxy
# with the same number of threads, the same bounded h2load run (unary
# `pickwise.lab.Worker/Name` calls, C connections with M streams each),
# interleaved over several rounds.
#
#   bash bench/h2.sh [ROUNDS=3] [SECONDS=5] [CONNECTIONS=16] [STREAMS=8] [THREADS=1]
#
# Prints requests/s and mean latency per proxy and round, then the median
# ratios hyper_proxy / nginx. h2load runs on the same cores (-t1); it counts
# a call done when its HTTP/2 stream ends (the gRPC status is in the
# trailers, 0 from these workers).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} seconds=${2:-5} connections=${3:-16} streams=${4:-8} threads=${5:-1}

PATH="$PATH:/usr/sbin"
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v h2load >/dev/null || need+=(nghttp2-client)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release -q -p pickwise-programs

source bench/lib.sh

workers=()
for i in 1 2 3 4; do workers+=("$(start worker --name "w$i")"); done
backends=(); for w in "${workers[@]}"; do backends+=(--backend "$w"); done
hyper=$(start hyper_proxy --strategy round-robin --threads "$threads" "${backends[@]}")

nginx_port=$(free_port)
mkdir -p "$work/logs"
{
  echo "worker_processes $threads; error_log $work/nginx-error.log; pid $work/nginx.pid;"
  echo "events { worker_connections 4096; }"
  # keepalive_requests: nginx closes a client or upstream connection after
  # 1000 requests by default, which would end h2load's connections early.
  echo "http { access_log off; keepalive_requests 10000000;"
  echo "upstream workers { keepalive 64; keepalive_requests 10000000;"
  for w in "${workers[@]}"; do echo "  server $w;"; done
  echo "} server { listen 127.0.0.1:$nginx_port http2; http2_max_concurrent_streams 128;"
  echo "  location / { grpc_pass grpc://workers; } } }"
} >"$work/nginx.conf"
nginx -p "$work" -c nginx.conf

# One unary call's request body: an empty message, length-prefixed.
printf '\0\0\0\0\0' >"$work/call.bin"
call() {
  h2load -t1 -c"$1" -m"$2" -D"$3" -d "$work/call.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://$4/pickwise.lab.Worker/Name"
}

declare -A target=([hyper_proxy]="$hyper" [nginx]="127.0.0.1:$nginx_port")
order=(nginx hyper_proxy)
for name in "${order[@]}"; do
  out=$(call 1 1 1 "${target[$name]}")
  grep -q "0 failed, 0 errored" <<<"$out" || { echo "$name: calls fail:"; echo "$out"; exit 1; } >&2
done

results="$work/results"
printf '%-12s %5s %12s %14s\n' proxy round 'requests/s' 'mean ms'
for round in $(seq "$rounds"); do
  for name in "${order[@]}"; do
    out=$(call "$connections" "$streams" "$seconds" "${target[$name]}")
    grep -q " 0 errored" <<<"$out" || { echo "$name: errors:"; echo "$out"; } >&2
    rps=$(awk '/^finished in/ {print $4}' <<<"$out")
    mean=$(awk '/^time for request:/ {v=$6; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
    printf '%-12s %5s %12.0f %14.2f\n' "$name" "$round" "$rps" "$mean"
    echo "$name $round $rps $mean" >>"$results"
  done
done

python3 - "$results" <<'PY'
import statistics, sys
by = {}
for name, rnd, rps, mean in (l.split() for l in open(sys.argv[1])):
    by.setdefault(name, {})[rnd] = (float(rps), float(mean))
rounds = sorted(set(by["hyper_proxy"]) & set(by["nginx"]))
rps = statistics.median(by["hyper_proxy"][r][0] / by["nginx"][r][0] for r in rounds)
mean = statistics.median(by["hyper_proxy"][r][1] / by["nginx"][r][1] for r in rounds)
print(f"\nmedian ratio hyper_proxy / nginx: requests/s {rps:.2f}x, mean latency {mean:.2f}x (below 1 is better)")
PY

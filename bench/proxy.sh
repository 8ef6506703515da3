#!/usr/bin/env bash
# hyper_proxy against nginx and HAProxy, and tcp_forwarder against HAProxy in
# tcp mode: four workers on loopback, each proxy with the same number of
# threads, the same bounded wrk run, interleaved over several rounds.
#
#   [BEFORE_BIN=DIR] bash bench/proxy.sh [ROUNDS=3] [SECONDS=5] [CONNECTIONS=32] [THREADS=1]
#
# Prints requests/s and p99 latency per proxy and round, then the median
# ratios hyper_proxy / nginx and tcp_forwarder / haproxy-tcp. With
# BEFORE_BIN, a directory holding older hyper_proxy and tcp_forwarder
# binaries (e.g. built from an earlier commit), those run too, as the rows
# hyper_before and tcp_before, with their ratios to the current ones.
# wrk runs on the same cores as the proxies (-t1).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} seconds=${2:-5} connections=${3:-32} threads=${4:-1}

need=()
for tool in nginx haproxy wrk; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
PATH="$PATH:/usr/sbin"
cargo build --release -q -p pickwise-programs

source bench/lib.sh

workers=()
for i in 1 2 3 4; do workers+=("$(start worker --name "w$i")"); done

backends=(); for w in "${workers[@]}"; do backends+=(--backend "$w"); done
hyper=$(start hyper_proxy --strategy round-robin --threads "$threads" "${backends[@]}")
forwarder=$(start tcp_forwarder --strategy round-robin --threads "$threads" "${backends[@]}")
before=${BEFORE_BIN:-}
if [ -n "$before" ]; then
  for program in hyper_proxy tcp_forwarder; do
    [ -x "$before/$program" ] || { echo "BEFORE_BIN=$before has no executable $program" >&2; exit 1; }
  done
  hyper_before=$(start "$before/hyper_proxy" --strategy round-robin --threads "$threads" "${backends[@]}")
  tcp_before=$(start "$before/tcp_forwarder" --strategy round-robin --threads "$threads" "${backends[@]}")
fi

nginx_port=$(free_port)
mkdir -p "$work/logs"
{
  echo "worker_processes $threads; error_log $work/nginx-error.log; pid $work/nginx.pid;"
  echo "events { worker_connections 4096; }"
  echo "http { access_log off; upstream workers { keepalive 64;"
  for w in "${workers[@]}"; do echo "  server $w;"; done
  echo "} server { listen 127.0.0.1:$nginx_port; location / { proxy_pass http://workers;"
  echo "  proxy_http_version 1.1; proxy_set_header Connection \"\"; } } }"
} >"$work/nginx.conf"
nginx -p "$work" -c nginx.conf

haproxy_port=$(free_port) haproxy_tcp_port=$(free_port)
{
  echo "global"; echo "  nbthread $threads"; echo "  maxconn 4096"
  echo "defaults"; echo "  timeout connect 2s"; echo "  timeout client 30s"; echo "  timeout server 30s"
  echo "frontend http_in"; echo "  mode http"; echo "  bind 127.0.0.1:$haproxy_port"; echo "  default_backend http_workers"
  echo "backend http_workers"; echo "  mode http"; echo "  balance roundrobin"; echo "  http-reuse always"
  i=0; for w in "${workers[@]}"; do i=$((i+1)); echo "  server w$i $w"; done
  echo "frontend tcp_in"; echo "  mode tcp"; echo "  bind 127.0.0.1:$haproxy_tcp_port"; echo "  default_backend tcp_workers"
  echo "backend tcp_workers"; echo "  mode tcp"; echo "  balance roundrobin"
  i=0; for w in "${workers[@]}"; do i=$((i+1)); echo "  server w$i $w"; done
} >"$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" -D -p "$work/haproxy.pid"
cat "$work/haproxy.pid" >>"$work/pids"
sleep 0.3

declare -A target=(
  [hyper_proxy]="$hyper" [nginx]="127.0.0.1:$nginx_port" [haproxy]="127.0.0.1:$haproxy_port"
  [tcp_forwarder]="$forwarder" [haproxy-tcp]="127.0.0.1:$haproxy_tcp_port"
)
order=(nginx hyper_proxy haproxy tcp_forwarder haproxy-tcp)
if [ -n "$before" ]; then
  target[hyper_before]=$hyper_before target[tcp_before]=$tcp_before
  order=(nginx hyper_proxy hyper_before haproxy tcp_forwarder tcp_before haproxy-tcp)
fi

# Every proxy answers before it is measured.
for name in "${order[@]}"; do
  curl -sf "http://${target[$name]}/" >/dev/null || { echo "$name does not answer" >&2; exit 1; }
done

results="$work/results"
printf '%-14s %5s %12s %10s\n' proxy round 'requests/s' 'p99 ms'
for round in $(seq "$rounds"); do
  for name in "${order[@]}"; do
    out=$(wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://${target[$name]}/")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
    printf '%-14s %5s %12.0f %10.2f\n' "$name" "$round" "$rps" "$p99"
    echo "$name $round $rps $p99" >>"$results"
  done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for name, rnd, rps, p99 in rows:
    by.setdefault(name, {})[rnd] = (float(rps), float(p99))
def ratios(a, b):
    rounds = sorted(set(by[a]) & set(by[b]))
    rps = statistics.median(by[a][r][0] / by[b][r][0] for r in rounds)
    p99 = statistics.median(by[a][r][1] / by[b][r][1] for r in rounds)
    return rps, p99
print()
print(f"{'proxy':<14} {'median req/s':>12} {'median p99 ms':>14}")
for name in by:
    print(f"{name:<14} {statistics.median(v[0] for v in by[name].values()):>12.0f} {statistics.median(v[1] for v in by[name].values()):>14.2f}")
print()
pairs = [("hyper_proxy", "nginx"), ("hyper_proxy", "haproxy"), ("tcp_forwarder", "haproxy-tcp")]
if "hyper_before" in by:
    pairs += [("hyper_proxy", "hyper_before"), ("hyper_before", "nginx"), ("hyper_before", "haproxy"),
              ("tcp_forwarder", "tcp_before"), ("tcp_before", "haproxy-tcp")]
for a, b in pairs:
    rps, p99 = ratios(a, b)
    print(f"median ratio {a} / {b}: requests/s {rps:.2f}x, p99 {p99:.2f}x (below 1 is better for p99)")
PY

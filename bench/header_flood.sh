#!/usr/bin/env bash
# Memory under a flood of unfinished request heads (issue 26, finding 3):
# CONNECTIONS clients each send HEADER_KB of header lines to hyper_proxy
# and never end the head. Prints hyper_proxy's resident memory (VmRSS)
# before, at its peak during the flood, and 15 s after the flood's
# connections have closed (the proxy gives freed memory back every 10 s).
#
#   [BIN=DIR] bash bench/header_flood.sh [CONNECTIONS=2000] [HEADER_KB=200]
#
# BIN: a directory holding another hyper_proxy (e.g. built from an earlier
# commit) to measure instead of target/release's.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-2000} header_kb=${2:-200}
cargo build --release -q -p pickwise-programs
source bench/lib.sh
ulimit -n "$(ulimit -Hn)"

proxy_bin=${BIN:-target/release}/hyper_proxy
worker=$(start worker --name w1)
proxy=$(start "$proxy_bin" --strategy round-robin --backend "$worker" --threads 1)
pid=$(tail -n 1 "$work/pids")
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

before=$(rss)
# The flood: every connection sends its header lines in 8 KiB writes until
# HEADER_KB are out or the proxy closes it (431 past its head limit).
python3 - "$proxy" "$connections" "$header_kb" "$pid" >"$work/flood" <<'PY'
import socket, sys, time, selectors
host, port = sys.argv[1].rsplit(":", 1)
count, kib, pid = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rss():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
conns = []
for _ in range(count):
    s = socket.create_connection((host, int(port)))
    s.setblocking(False)
    s.sendall(b"GET / HTTP/1.1\r\nHost: flood\r\n")
    conns.append([s, 0])
chunk = b"X-Pad: " + b"a" * 8180 + b"\r\n"
peak, deadline, open_ = rss(), time.time() + 60, list(conns)
while open_ and time.time() < deadline:
    still = []
    for c in open_:
        try:
            if c[1] < kib * 1024:
                c[1] += c[0].send(chunk)
                still.append(c)
        except BlockingIOError:
            still.append(c)
        except OSError:
            pass  # closed by the proxy
    open_ = still
    peak = max(peak, rss())
    if all(c[1] >= kib * 1024 for c in open_):
        break
time.sleep(1)
peak = max(peak, rss())
for c in conns:
    c[0].close()
print(peak)
PY
peak=$(cat "$work/flood")
sleep 15
after=$(rss)
printf '%-28s %10s\n' "hyper_proxy VmRSS" "KiB"
printf '%-28s %10s\n' "before the flood" "$before" "peak, $connections heads" "$peak" "15 s after they closed" "$after"

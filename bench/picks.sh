#!/usr/bin/env bash
# What a pick costs, pickwise beside its peers (pingora-load-balancing,
# arcboxlabs' loadwise, tower's p2c balancer): runs the criterion benches
# with short measurements (a few minutes in all) and prints tables with the
# ratios peer / pickwise (above 1x: pickwise is faster).
#
#   bench/picks.sh                 # both benches, then the table
#   bench/picks.sh --table         # only the table, from the last run
#   MEASURE=3 bench/picks.sh       # longer measurements (seconds)
#
# The machine may be shared and noisy: each comparison runs side by side in
# one criterion group, so read the ratios rather than the absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
MEASURE=${MEASURE:-1}
WARMUP=${WARMUP:-0.3}

if [[ "${1:-}" != "--table" ]]; then
    # pingora-load-balancing compiles zlib-ng, which needs cmake.
    if ! command -v cmake >/dev/null; then
        echo "installing cmake (pingora's zlib-ng needs it)" >&2
        SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
        $SUDO apt-get install -y cmake >/dev/null 2>&1 ||
            { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y cmake >/dev/null; }
    fi
    ARGS=(--warm-up-time "$WARMUP" --measurement-time "$MEASURE" --noplot)
    cargo bench -p pickwise --bench pick -- "${ARGS[@]}"
    cargo bench -p bench-peers --bench peers -- "${ARGS[@]}"
fi

python3 - "$TARGET/criterion" <<'PY'
import json, os, sys

root = sys.argv[1]

# Criterion makes directory names file-safe ("pick/1thread" -> "pick_1thread"):
# index the runs by the ids each one records in new/benchmark.json.
runs = {}
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) == "new" and "estimates.json" in files:
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            b = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            e = json.load(f)
        key = (b["group_id"], b.get("function_id"), b.get("value_str"))
        runs[key] = e["median"]["point_estimate"]

def estimate(group, function, value=None):
    """Median point estimate in ns, or None if the bench did not run."""
    return runs.get((group, function, value))

def fmt(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.1f} ns"

def ratio(a, b):
    """a / b; two decimals below 1x, where the peer is faster."""
    if not (a and b):
        return "-"
    return f"{a / b:.2f}x" if a < b else f"{a / b:.1f}x"

def table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))

print("Median of criterion's estimates (target/criterion/**/new/estimates.json).")

# Peers, side by side: pingora / pickwise per comparison.
rows = []
for group, peer, ours in [
    ("round-robin", "pingora", ["pickwise", "pickwise-picker"]),
    ("random", "pingora", ["pickwise", "pickwise-picker"]),
    ("consistent", "pingora-ketama", ["pickwise-ring-hash", "pickwise-ring-hash-picker",
                                      "pickwise-maglev", "pickwise-maglev-picker"]),
    ("round-robin-2threads", "pingora", ["pickwise", "pickwise-picker"]),
]:
    for n in (4, 64, 1024):
        p = estimate(group, peer, str(n))
        for name in ours:
            l = estimate(group, name, str(n))
            rows.append([f"{group}/{n}", f"{peer} {fmt(p)}", f"{name} {fmt(l)}", ratio(p, l)])
table("pick (pingora select vs pickwise pick + drop), per pick",
      ["bench", "pingora", "pickwise", "pingora/pickwise"], rows)

# arcboxlabs' loadwise (crates.io), side by side: loadwise / pickwise.
rows = []
for group, what, ours in [
    ("loadwise-round-robin", "RoundRobin", ["pickwise", "pickwise-picker"]),
    ("loadwise-weighted-round-robin", "WeightedRoundRobin", ["pickwise", "pickwise-picker"]),
    ("loadwise-p2c", "PowerOfTwoChoices", ["pickwise", "pickwise-picker"]),
    ("loadwise-least-load", "LeastLoad", ["pickwise", "pickwise-picker"]),
    ("loadwise-consistent", "ConsistentHash", ["pickwise-ring-hash", "pickwise-ring-hash-picker",
                                               "pickwise-maglev", "pickwise-maglev-picker"]),
]:
    for n in (4, 64, 1024):
        p = estimate(group, "loadwise", str(n))
        for name in ours:
            l = estimate(group, name, str(n))
            rows.append([f"{group}/{n}", f"{what} {fmt(p)}", f"{name} {fmt(l)}", ratio(p, l)])
table("pick (loadwise select + the caller's part vs pickwise pick + drop), per pick",
      ["bench", "loadwise", "pickwise", "loadwise/pickwise"], rows)

# tower's p2c balancer beside pickwise::tower::Balance, per request.
rows = []
for n in (4, 64, 1024):
    p = estimate("tower-p2c", "tower-p2c", str(n))
    l = estimate("tower-p2c", "pickwise-p2c", str(n))
    rows.append([f"tower-p2c/{n}", f"tower-p2c {fmt(p)}", f"pickwise-p2c {fmt(l)}", ratio(p, l)])
table("a request through a tower Service over ready no-op backends "
      "(poll_ready + call + response)", ["bench", "tower", "pickwise", "tower/pickwise"], rows)

rows = []
for group in ("build-balancer",):
    for n in (10, 100, 1000):
        p = estimate(group, "pingora-ketama", str(n))
        for name in ("pickwise-ring-hash", "pickwise-maglev"):
            l = estimate(group, name, str(n))
            rows.append([f"{group}/{n}", f"pingora-ketama {fmt(p)}", f"{name} {fmt(l)}", ratio(p, l)])
table("builds", ["bench", "pingora", "pickwise", "pingora/pickwise"], rows)

rows = [[name, fmt(estimate("anatomy", name))] for name in
        ("fetch-add", "arc-swap-load", "arc-clone-drop", "round-robin-pick-drop")]
table("anatomy of a round-robin pick (each part alone, one thread)", ["part", "time"], rows)

# Every strategy (benches/pick.rs).
names = sorted({f for (g, f, _) in runs if g == "pick/1thread"})
order = ["round-robin", "weighted-round-robin", "least-connections",
         "weighted-least-connections", "resource-based", "sdn-adaptive",
         "source-ip-hash", "p2c", "peak-ewma", "maglev", "ring-hash",
         "rendezvous", "bounded-load", "random"]
names = [n for n in order if n in names] + [n for n in names if n not in order]
def throughput(one, two):
    """Two threads' picks per second over one thread's."""
    return f"{2 * one / two:.2f}x" if one and two else "-"

for prefix, what in (("pick", "Pool::pick, owned guard"), ("picker", "Picker::pick, borrowed guard")):
    rows = []
    for s in names:
        one = [estimate(f"{prefix}/1thread", s, str(n)) for n in (4, 64, 1024)]
        two = [estimate(f"{prefix}/2threads", s, str(n)) for n in (4, 64, 1024)]
        rows.append([s] + [fmt(x) for x in one] + [fmt(x) for x in two]
                    + [throughput(a, b) for a, b in zip(one, two)])
    table(f"every strategy, {what}: pick + drop (benches/pick.rs, AnyStrategy); "
          "2t = per pick per thread; x = two threads' throughput over one's",
          ["strategy", "1t/4", "1t/64", "1t/1024", "2t/4", "2t/64", "2t/1024",
           "x at 4", "x at 64", "x at 1024"], rows)

rows = [[s, fmt(estimate("update/64", s))] for s in names]
table("replacing a 64-backend set while another thread picks (update/64)", ["strategy", "time"], rows)

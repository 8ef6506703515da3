#!/usr/bin/env bash
# The pick benches of an older commit beside the working tree's, run in
# turns on one machine, with the ratio of each figure: what a change cost.
#
#   bench/compare.sh BASE [REGEX] [ROUNDS]
#   bench/compare.sh 49c9ece 'pick/1thread/(round-robin|least-connections)/'
#
# BASE is any commit; REGEX picks criterion benchmark ids of benches/pick.rs
# (default: the one-thread pick and picker groups for five strategies);
# ROUNDS (default 2) alternates base and head that many times and keeps each
# side's best median. Builds both first (never while a bench runs), in
# separate target directories under $COMPARE_DIR (default /tmp/pickwise-compare).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: bench/compare.sh BASE [REGEX] [ROUNDS]}
REGEX=${2:-'^pick(er)?/1thread/(round-robin|least-connections|maglev|random|p2c)/'}
ROUNDS=${3:-2}
MEASURE=${MEASURE:-1}
DIR=${COMPARE_DIR:-/tmp/pickwise-compare}
mkdir -p "$DIR"

tree="$DIR/base-tree"
cleanup() { git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"; }
trap cleanup EXIT
cleanup
git worktree add --detach "$tree" "$BASE" >/dev/null

# The bench executable of the tree in $1, built into target dir $2.
bench_exe() {
    (cd "$1" && CARGO_TARGET_DIR="$2" cargo bench -p pickwise --bench pick --no-run --message-format=json 2>/dev/null) |
        python3 -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and "pick" == msg["target"]["name"]:
        print(msg["executable"])'
}
echo "building $BASE and the working tree" >&2
base_exe=$(bench_exe "$tree" "$DIR/target-base")
head_exe=$(bench_exe "$PWD" "$DIR/target-head")
[[ -x "$base_exe" && -x "$head_exe" ]] || { echo "a bench build failed" >&2; exit 1; }

rm -rf "$DIR/criterion-base" "$DIR/criterion-head" "$DIR/medians"
mkdir -p "$DIR/medians"
ARGS=(--bench --warm-up-time 0.3 --measurement-time "$MEASURE" --noplot "$REGEX")
for round in $(seq 1 "$ROUNDS"); do
    for side in base head; do
        exe=base_exe; [[ $side == head ]] && exe=head_exe
        echo "round $round: $side" >&2
        CRITERION_HOME="$DIR/criterion-$side" "${!exe}" "${ARGS[@]}" >/dev/null 2>&1
        python3 - "$DIR/criterion-$side" "$DIR/medians/$side.$round.json" <<'PY'
import json, os, sys
root, out = sys.argv[1], sys.argv[2]
medians = {}
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) == "new" and "estimates.json" in files:
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bid = json.load(f)["full_id"]
        with open(os.path.join(dirpath, "estimates.json")) as f:
            medians[bid] = json.load(f)["median"]["point_estimate"]
json.dump(medians, open(out, "w"))
PY
    done
done

python3 - "$DIR/medians" "$BASE" <<'PY'
import glob, json, os, sys
folder, base = sys.argv[1], sys.argv[2]
best = {"base": {}, "head": {}}
for path in glob.glob(os.path.join(folder, "*.json")):
    side = os.path.basename(path).split(".")[0]
    for bid, ns in json.load(open(path)).items():
        best[side][bid] = min(ns, best[side].get(bid, float("inf")))
ids = sorted(set(best["base"]) & set(best["head"]))
print(f"| benchmark | {base} ns | head ns | head / base |")
print("|---|---|---|---|")
for bid in ids:
    b, h = best["base"][bid], best["head"][bid]
    print(f"| {bid} | {b:.1f} | {h:.1f} | {h / b:.2f}x |")
only = sorted(set(best["head"]) - set(best["base"]))
for bid in only:
    print(f"| {bid} | - | {best['head'][bid]:.1f} | new |")
PY

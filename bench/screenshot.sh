#!/usr/bin/env bash
# A screenshot of a proxy's admin status page (or any page), taken with
# headless Chromium (Debian's `chromium`), for the README.
#
#   bench/screenshot.sh URL OUT.png [WIDTHxHEIGHT]
#   bench/screenshot.sh http://127.0.0.1:9100/ docs/admin.png
#
# URL is the page (a proxy started with `--admin 127.0.0.1:9100` serves it
# at /); the window is 1200x700 unless given. The page's script gets three
# seconds of virtual time to fetch /status.json and draw from it.
set -euo pipefail
URL=${1:?usage: bench/screenshot.sh URL OUT.png [WIDTHxHEIGHT]}
OUT=${2:?usage: bench/screenshot.sh URL OUT.png [WIDTHxHEIGHT]}
SIZE=${3:-1200x700}
[[ $SIZE =~ ^[0-9]+x[0-9]+$ ]] || { echo "error: size \`$SIZE\` is not WIDTHxHEIGHT" >&2; exit 2; }
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z $CHROMIUM ]]; then
    echo "error: chromium not found; install Debian's package: apt-get install -y chromium" >&2
    exit 1
fi
mkdir -p "$(dirname "$OUT")"
OUT=$(realpath "$OUT")
# A profile of its own, removed afterwards: nothing of the user's is touched.
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
rm -f "$OUT"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$PROFILE" --window-size="${SIZE/x/,}" \
    --virtual-time-budget=3000 --screenshot="$OUT" "$URL" 2>"$PROFILE/chromium.log" || {
    echo "error: chromium failed:" >&2
    tail -20 "$PROFILE/chromium.log" >&2
    exit 1
}
if [[ ! -s $OUT ]]; then
    echo "error: chromium wrote no screenshot at $OUT:" >&2
    tail -20 "$PROFILE/chromium.log" >&2
    exit 1
fi
echo "$OUT"

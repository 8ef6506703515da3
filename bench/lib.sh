# What the bench scripts share (sourced, not run): a work directory removed
# on exit with every program started in it, `start` for the programs'
# `listening on ADDR` contract, and `free_port`.
#
#   source bench/lib.sh   # sets $work and the EXIT trap

work=$(mktemp -d)
# Started programs' pids go to a file: start() runs in a command
# substitution's subshell, where a shell array would be lost.
cleanup() {
  [ -f "$work/pids" ] && kill $(cat "$work/pids") 2>/dev/null || true
  if [ -f "$work/nginx.conf" ]; then nginx -p "$work" -c nginx.conf -s stop 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Starts a program (a release binary's name, or a path) with --listen
# 127.0.0.1:0 and the other arguments, and echoes the address it bound.
start() {
  local out="$work/$RANDOM.out" program=$1
  [[ $program == */* ]] || program="target/release/$program"
  "$program" --listen 127.0.0.1:0 "${@:2}" >"$out" 2>>"$work/log" &
  echo $! >>"$work/pids"
  for _ in $(seq 100); do
    if read -r first <"$out" 2>/dev/null && [ -n "$first" ]; then echo "${first#listening on }"; return; fi
    sleep 0.05
  done
  echo "$1 did not start" >&2; exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

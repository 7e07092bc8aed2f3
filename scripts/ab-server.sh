#!/usr/bin/env bash
# A/B of one server across two commits, driven by the same load generator (this tree's `rpc bench`): the
# figure to quote when a change moves the server and the suite's generator changed too (BENCHMARKS.md ratios
# then move with the generator). Builds REV's interop_server in a worktree under target/ab, then measures it
# and this tree's, alternating, RUNS times each; server on CPU 0, generator on CPU 1, as the suite does.
#
# Usage: scripts/ab-server.sh REV [SCHEME] [CONNECTIONS] [IN_FLIGHT] [RUNS]
#   scripts/ab-server.sh 23a70e0                 # MessagePack-RPC, 1 connection x 64 in flight, 3 runs
#   scripts/ab-server.sh 23a70e0 msgpack 32 1
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: $0 REV [SCHEME] [CONNECTIONS] [IN_FLIGHT] [RUNS]}
scheme=${2:-msgpack} connections=${3:-1} in_flight=${4:-64} runs=${5:-3}
case "$scheme" in
  msgpack) flag=--msgpack ;;
  jsonrpc+tcp) flag=--json-tcp ;;
  *) echo "$0: SCHEME is msgpack or jsonrpc+tcp" >&2; exit 2 ;;
esac
command -v taskset > /dev/null || { echo "$0: needs taskset (util-linux)" >&2; exit 1; }

root=$PWD/target/ab
mkdir -p "$root"
old_tree=$root/tree-$rev
[ -d "$old_tree" ] || git worktree add -f --detach "$old_tree" "$rev" > /dev/null
(cd "$old_tree" && CARGO_TARGET_DIR=$root/target cargo build -q --release -p rpc-examples --example interop_server)
cargo build -q --release -p rpc-examples --example interop_server -p rpc-cli
old=$root/target/release/examples/interop_server new=target/release/examples/interop_server

# Calls per second of server binary $1 under this tree's generator.
measure() {
  local out pid addr=""
  out=$(mktemp)
  taskset -c 0 "$1" "$flag" 127.0.0.1:0 > "$out" 2> /dev/null &
  pid=$!
  for _ in $(seq 100); do
    addr=$(awk '/^(msgpack|json-tcp) /{print $2; exit}' "$out")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "$0: $1 did not announce its address" >&2; kill "$pid"; exit 1; }
  RUST_LOG=warn taskset -c 1 target/release/rpc bench "$scheme://$addr" double 7 -c "$connections" \
    -k "$in_flight" -d 3s --warmup 500ms --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["calls_per_s"]))'
  kill "$pid"
  wait "$pid" 2> /dev/null || true
  rm -f "$out"
}

echo "$scheme, $connections x $in_flight: calls/s of $rev's server and this tree's, alternating"
for i in $(seq "$runs"); do
  a=$(measure "$old")
  b=$(measure "$new")
  echo "run $i: $rev $a, this tree $b ($(python3 -c "print(f'{$b / $a:.2f}')")x)"
done

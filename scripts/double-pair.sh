#!/usr/bin/env bash
# Runs the double() pair of one transport: builds the examples, starts the server on a free port, runs the
# client against it, stops the server. Usage: scripts/double-pair.sh [xml|msgpack|json|json-tcp|json-ws|json-stdio|zerorpc]
set -euo pipefail
cd "$(dirname "$0")/.."
transport=${1:-xml}
server_args=()
case "$transport" in
  xml) server=xmlrpc_server client=xmlrpc_client scheme=http ;;
  msgpack) server=msgpack_server client=msgpack_client scheme=tcp ;;
  json) server=json_server client=json_client scheme=http ;;
  json-tcp) server=jsonrpc_socket_server client=jsonrpc_socket_client scheme=tcp ;;
  zerorpc) server=zerorpc_server client=zerorpc_client scheme=tcp ;;
  json-ws) server=jsonrpc_socket_server client=jsonrpc_socket_client scheme=ws server_args=(--ws) ;;
  json-stdio)
    # No port: the client runs the server as its child and talks to its stdin and stdout.
    cargo build -q --example jsonrpc_socket_server --example jsonrpc_socket_client
    exec ./target/debug/examples/jsonrpc_socket_client --spawn ./target/debug/examples/jsonrpc_socket_server ;;
  *) echo "usage: $0 [xml|msgpack|json|json-tcp|json-ws|json-stdio|zerorpc]" >&2; exit 2 ;;
esac
cargo build -q --example "$server" --example "$client"
out=$(mktemp) log=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out" "$log"' EXIT
./target/debug/examples/"$server" --addr 127.0.0.1:0 "${server_args[@]}" >"$out" 2>"$log" &
pid=$!
# The server prints where it listens on its first line (port 0 lets the OS pick a free one).
addr=
for _ in $(seq 100); do
  addr=$(grep -o '[0-9.]*:[0-9]*/*$' "$out" | head -n1 | tr -d / || true)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "the server did not start:" >&2; cat "$log" >&2; exit 1; }
case "$scheme" in
  http) ./target/debug/examples/"$client" --url "http://$addr/" ;;
  tcp) ./target/debug/examples/"$client" --addr "$addr" ;;
  ws) ./target/debug/examples/"$client" --url "ws://$addr/" ;;
esac

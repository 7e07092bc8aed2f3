# Drives interop_server with python-lsp-jsonrpc (the JSON-RPC layer of python-lsp-server): its
# JsonRpcStreamReader and JsonRpcStreamWriter (LSP `Content-Length` framing) under its Endpoint, which sends
# requests with uuid string ids and answers the server's calls with a dispatcher. Prints one JSON line of results.
#
# Usage: pylsp_jsonrpc_client.py stdio PATH/TO/interop_server   (runs it with --json-stdio, talks over its stdio)
#        pylsp_jsonrpc_client.py tcp PORT                        (connects to --json-tcp on 127.0.0.1:PORT)
#        pylsp_jsonrpc_client.py unix PATH                       (connects to --json-unix PATH)
import json
import logging
import socket
import subprocess
import sys
import threading
import time

from pylsp_jsonrpc.endpoint import Endpoint
from pylsp_jsonrpc.exceptions import JsonRpcException
from pylsp_jsonrpc.streams import JsonRpcStreamReader, JsonRpcStreamWriter

TIMEOUT = 20
# The endpoint logs a traceback for each error it answers (the unknown method below, on purpose).
logging.getLogger("pylsp_jsonrpc").setLevel(logging.CRITICAL)

mode, target = sys.argv[1], sys.argv[2]
child = None
if mode == "stdio":
    child = subprocess.Popen([target, "--json-stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    rfile, wfile = child.stdout, child.stdin
elif mode == "tcp":
    sock = socket.create_connection(("127.0.0.1", int(target)), timeout=TIMEOUT)
    rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
elif mode == "unix":
    # The server may announce the socket before it listens: try for a while.
    deadline = time.monotonic() + 10
    while True:
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.connect(target)
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
else:
    raise SystemExit(f"unknown mode {mode}")

called_back = []


def double(params):
    called_back.append(params)
    return params[0] * 2


reader, writer = JsonRpcStreamReader(rfile), JsonRpcStreamWriter(wfile)
endpoint = Endpoint({"double": double}, writer.write)
listener = threading.Thread(target=reader.listen, args=(endpoint.consume,), daemon=True)
listener.start()


def outcome(method, params=None):
    """The result of a request, or its error as [code, message]."""
    try:
        return {"value": endpoint.request(method, params).result(timeout=TIMEOUT)}
    except JsonRpcException as e:
        return {"error": [e.code, e.message]}


# A message far larger than one pipe or socket read (1.1 MB of UTF-8 from 800,000 characters).
big = "é" * 300_000 + "x" * 500_000
out = {
    "double": outcome("double", [7]),
    "addNamed": outcome("add", {"a": 40, "b": 2}),
    "echo": outcome("echo", [{"s": "héllo 😀", "l": [1, "two", True, 1.5, None]}]),
    "bigEcho": {"value": outcome("echo", [big]).get("value") == big},
    "fail": outcome("fail", [42, "custom message"]),
    "unknown": outcome("nope"),
    "explode": outcome("explode", []),
}

# Pipelined: the slow call is sent first, the quick one is answered first.
order = []
slow, quick = endpoint.request("slow_bump", [300]), endpoint.request("double", [1])
slow.add_done_callback(lambda f: order.append(["slow_bump", f.result()]))
quick.add_done_callback(lambda f: order.append(["double", f.result()]))
slow.result(timeout=TIMEOUT), quick.result(timeout=TIMEOUT)
out["order"] = order

# 1,000 notifications, then a request: it runs once they all have.
out["counterBefore"] = outcome("counter")
for _ in range(1000):
    endpoint.notify("bump", [1])
out["counter"] = outcome("counter")

# The server calls back into our dispatcher, while another call goes on.
asked, meanwhile = endpoint.request("ask_client", ["double", [4]]), endpoint.request("double", [5])
out["askClient"] = asked.result(timeout=TIMEOUT)
out["quickMeanwhile"] = meanwhile.result(timeout=TIMEOUT)
# A method our side does not handle: python-lsp-jsonrpc's own error comes back through the server unchanged.
out["askClientUnknown"] = outcome("ask_client", ["triple", [4]])
out["calledBack"] = called_back

if child is not None:
    # Closing its stdin ends the server, cleanly.
    child.stdin.close()
    out["exit"] = child.wait(timeout=10)
else:
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
endpoint.shutdown()
print(json.dumps(out, ensure_ascii=False))

# A JSON-RPC server written with python-lsp-jsonrpc, for our duplex client to call: its Endpoint over its
# JsonRpcStreamReader and JsonRpcStreamWriter (LSP `Content-Length` framing), with the interop methods the
# tests use, plus calls and notifications back into the client's own handler (sent with uuid string ids).
#
# Usage: pylsp_jsonrpc_server.py tcp     listens on 127.0.0.1 at a port the OS picks and prints the port
#        pylsp_jsonrpc_server.py stdio   serves one connection on stdin/stdout
import logging
import socket
import sys
import threading
import time

from pylsp_jsonrpc.endpoint import Endpoint
from pylsp_jsonrpc.exceptions import JsonRpcException
from pylsp_jsonrpc.streams import JsonRpcStreamReader, JsonRpcStreamWriter

TIMEOUT = 20
# The endpoint logs a traceback for each error it answers (fail and explode, on purpose).
logging.getLogger("pylsp_jsonrpc").setLevel(logging.CRITICAL)


def serve(rfile, wfile):
    """Serves one connection until it closes; each connection has its own counter."""
    counter = [0]
    lock = threading.Lock()
    endpoint = None

    def bump(n):
        with lock:
            counter[0] += n
            return counter[0]

    def fail(params):
        raise JsonRpcException(code=params[0], message=params[1])

    def explode(_params):
        raise RuntimeError("boom")

    def slow_bump(params):
        # A callable runs on the endpoint's thread pool, so the connection reads on meanwhile.
        def later():
            time.sleep(params[0] / 1000)
            return bump(1)

        return later

    def ask_client(params):
        method, args = params
        return lambda: endpoint.request(method, args).result(timeout=TIMEOUT)

    def notify_client(params):
        method, args = params
        endpoint.notify(method, args)

    dispatcher = {
        "double": lambda params: params[0] * 2,
        "add": lambda params: params[0] + params[1],
        "echo": lambda params: params[0],
        "fail": fail,
        "explode": explode,
        "counter": lambda _params: counter[0],
        "slow_bump": slow_bump,
        "bump": lambda params: bump(params[0]) and None,
        "ask_client": ask_client,
        "notify_client": notify_client,
    }
    reader, writer = JsonRpcStreamReader(rfile), JsonRpcStreamWriter(wfile)
    endpoint = Endpoint(dispatcher, writer.write)
    reader.listen(endpoint.consume)
    endpoint.shutdown()


if sys.argv[1] == "stdio":
    serve(sys.stdin.buffer, sys.stdout.buffer)
elif sys.argv[1] == "tcp":
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        files = (conn.makefile("rb"), conn.makefile("wb"))
        threading.Thread(target=serve, args=files, daemon=True).start()
else:
    raise SystemExit("usage: pylsp_jsonrpc_server.py tcp|stdio")

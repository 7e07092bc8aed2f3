# A small JSON-RPC 2.0 server on Python's stdlib (http.server), for our client to call: positional and named
# params, notifications (HTTP 204), batches, errors with `data`. Prints its port, then serves.
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


notified = []


def fail(code, message):
    raise RpcError(code, message)


METHODS = {
    "double": lambda num: num * 2,
    "add": lambda a, b: a + b,
    "echo": lambda value: value,
    "sleep": lambda ms: (time.sleep(ms / 1000), ms)[1],
    "fail": fail,
    "record": lambda *args: notified.append(list(args)),
    "notified": lambda: notified,
}


def handle(req):
    if not isinstance(req, dict) or req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str):
        return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}
    params = req.get("params", [])
    try:
        fn = METHODS.get(req["method"])
        if fn is None:
            raise RpcError(-32601, "Method not found")
        try:
            result = fn(**params) if isinstance(params, dict) else fn(*params)
        except TypeError as e:
            raise RpcError(-32602, str(e))
        resp = {"jsonrpc": "2.0", "result": result}
    except RpcError as e:
        resp = {"jsonrpc": "2.0", "error": {"code": e.code, "message": e.message, "data": {"server": "python"}}}
    if "id" not in req:
        return None
    resp["id"] = req["id"]
    return resp


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            msg = json.loads(body)
        except ValueError:
            out = {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
        else:
            if isinstance(msg, list) and not msg:
                out = {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}
            elif isinstance(msg, list):
                out = [r for r in map(handle, msg) if r is not None] or None
            else:
                out = handle(msg)
        if out is None:
            self.send_response(204)
            self.end_headers()
            return
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()

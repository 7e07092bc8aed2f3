# Drives interop_server over JSON-RPC 2.0 with nothing but Python's stdlib (urllib.request posting JSON):
# positional and named params, notifications, batches, errors, ids and the value spellings. Exits non-zero
# with a message on the first mismatch. Usage: python3 jsonrpc_interop_client.py http://127.0.0.1:PORT/
import json
import sys
import urllib.request

URL = sys.argv[1]


def post(payload):
    """POSTs JSON text (or a value to dump); returns (status, parsed body or None)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    req = urllib.request.Request(URL, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
        if resp.status == 200 and resp.headers["Content-Type"] != "application/json":
            raise AssertionError(f"Content-Type {resp.headers['Content-Type']!r}")
        return resp.status, (json.loads(body) if body else None)


def check(what, got, want):
    if got != want or type(got) is not type(want):
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def call(method, params=None, id=1):
    req = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        req["params"] = params
    status, body = post(req)
    check(f"{method}: status", status, 200)
    check(f"{method}: id", body["id"], id)
    return body


def result(method, params=None):
    body = call(method, params)
    if "error" in body:
        raise AssertionError(f"{method}: error {body['error']}")
    return body["result"]


def error_code(method, params=None):
    return call(method, params)["error"]["code"]


check("double", result("double", [9]), 18)
check("add positional", result("add", [2, 3]), 5)
check("add named", result("add", {"b": 3, "a": 2}), 5)
check("named unknown", error_code("add", {"a": 1, "x": 2}), -32602)
value = {"s": "héllo 😀", "n": None, "l": [1, 2.5, True], "big": 18446744073709551615, "e": {}}
check("echo", result("echo", [value]), value)
check("echo bytes spelling", result("echo", [{"$base64": "AP8="}]), {"$base64": "AP8="})
body = call("fail", [42, "custom message"])
check("fail", body["error"], {"code": 42, "message": "custom message"})
check("unknown method", error_code("nope"), -32601)
check("explode", error_code("explode"), -32603)
check("still serving", result("double", [8]), 16)
check("string id", call("double", [1], id="abc")["id"], "abc")
check("null id", call("double", [1], id=None)["result"], 2)

# Notifications: HTTP 204, no body; they run all the same.
start = result("counter")
check("notification", post({"jsonrpc": "2.0", "method": "bump", "params": [5]}), (204, None))
check("after the notification", result("counter"), start + 5)

# Batches: answers in order, notifications leave no entry, invalid elements answered in place.
status, answers = post([
    {"jsonrpc": "2.0", "method": "double", "params": [1], "id": 1},
    {"jsonrpc": "2.0", "method": "bump", "params": [1]},
    {"jsonrpc": "2.0", "method": "nope", "id": 2},
    1,
    {"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "b": 1}, "id": 3},
])
check("batch status", status, 200)
check("batch ids", [a["id"] for a in answers], [1, 2, None, 3])
check("batch results", [a.get("result") for a in answers], [2, None, None, 2])
check("batch errors", [a.get("error", {}).get("code") for a in answers], [None, -32601, -32600, None])
check("all-notification batch", post([{"jsonrpc": "2.0", "method": "bump", "params": [1]}]), (204, None))
check("empty batch", post([])[1]["error"]["code"], -32600)
status, body = post(b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')
check("parse error", (body["error"]["code"], body["id"]), (-32700, None))

# Introspection.
doc = result("rpc.discover")
check("rpc.discover double", [m["params"][0]["name"] for m in doc["methods"] if m["name"] == "double"], ["num"])

print("ok")

# Drives interop_server over XML-RPC with Python's stdlib ServerProxy: every method, multicall, introspection
# and gzip both ways. Exits non-zero with a message on the first mismatch.
# Usage: python3 xmlrpc_interop_client.py http://127.0.0.1:PORT/
import sys
import threading
import time
import xmlrpc.client
from xmlrpc.client import Fault, MultiCall, ServerProxy

URL = sys.argv[1]
proxy = ServerProxy(URL, allow_none=True, use_builtin_types=True)


def check(what, got, want):
    if got != want or type(got) is not type(want):
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def fault(what, call, code):
    try:
        got = call()
    except Fault as f:
        check(f"{what}: faultCode", f.faultCode, code)
        return f.faultString
    raise AssertionError(f"{what}: returned {got!r}, want fault {code}")


# Every method.
check("double", proxy.double(7), 14)
check("add", proxy.add(2, 3), 5)
value = {"s": "héllo 😀", "n": None, "l": [1, 2.5, True], "b": b"\x00\xff", "e": {}}
check("echo", proxy.echo(value), value)
msg = fault("fail", lambda: proxy.fail(42, "custom message"), 42)
check("fail message", msg, "custom message")
check("sleep", proxy.sleep(10), 10)
fault("explode", proxy.explode, -32603)
check("still serving after explode", proxy.double(8), 16)
start = proxy.counter()
check("bump", proxy.bump(5), start + 5)
check("counter", proxy.counter(), start + 5)

# Faults by the fault-interop codes, where Python's own server would say 1.
fault("unknown method", proxy.nope, -32601)
fault("too few params", proxy.add, -32602)
fault("wrong type", lambda: proxy.double("x"), -32602)

# 20 slow calls at once overlap rather than queue.
results = []
def slow():
    results.append(ServerProxy(URL).sleep(300))
threads = [threading.Thread(target=slow) for _ in range(20)]
t0 = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - t0
check("20 slow calls answered", results, [300] * 20)
if elapsed > 3.0:
    raise AssertionError(f"20 concurrent 300 ms calls took {elapsed:.2f}s: they queued")

# Multicall.
mc = MultiCall(proxy)
mc.double(1)
mc.add(1, 2)
mc.nope()
mc.echo("x")
answers = mc()
check("multicall double", answers[0], 2)
check("multicall add", answers[1], 3)
try:
    answers[2]
    raise AssertionError("multicall: the unknown method did not raise")
except Fault as f:
    check("multicall fault in place", f.faultCode, -32601)
check("multicall after the fault", answers[3], "x")

# Introspection.
methods = proxy.system.listMethods()
for name in ["add", "bump", "counter", "double", "echo", "explode", "fail", "sleep",
             "system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"]:
    if name not in methods:
        raise AssertionError(f"listMethods lacks {name}: {methods}")
check("methodHelp", proxy.system.methodHelp("double"), "Returns num * 2.\n\nIdempotent: safe to send again.")
check("methodSignature double", proxy.system.methodSignature("double"), [["int", "int"]])
check("methodSignature fail", proxy.system.methodSignature("fail"), [["nil", "int", "string"]])
check("methodSignature echo", proxy.system.methodSignature("echo"), [["any", "any"]])

# gzip both ways: requests compressed from the first byte, responses compressed when big.
class GzipTransport(xmlrpc.client.Transport):
    encode_threshold = 0
gz = ServerProxy(URL, transport=GzipTransport(), allow_none=True, use_builtin_types=True)
check("gzip request", gz.double(21), 42)
big = "z" * 100_000
check("gzip both ways, 100 kB", gz.echo(big), big)

print("ok")

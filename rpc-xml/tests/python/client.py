"""Python's xmlrpc.client calling the Rust server under test (rpc-xml/tests/python_interop.rs).

Usage: client.py URL. Echoes every value type through the server and compares on this side (types included,
floats by repr so that -0.0 is told from 0.0), checks each fault code and that the server goes on serving,
and prints "ok N" with the number of checks. The first mismatch raises, which fails the Rust test with this
script's traceback.
"""
import sys
import xmlrpc.client
from datetime import datetime
from xmlrpc.client import Binary, DateTime, Fault, ServerProxy

URL = sys.argv[1]
proxy = ServerProxy(URL, allow_none=True, use_builtin_types=True)
checks = 0


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def show(v):
    r = ascii(v)
    return r if len(r) <= 120 else "%s... (%d chars)" % (r[:120], len(r))


def check(what, got, want):
    global checks
    if not same(got, want):
        raise AssertionError("%s: got %s, want %s" % (what, show(got), show(want)))
    checks += 1


def check_echo(value, want=None):
    want = value if want is None else want
    check("echo(%s)" % show(value), proxy.echo(value), want)


def check_fault(what, call, code):
    """`call` must raise a Fault with `code`; then the server must still answer."""
    global checks
    try:
        got = call()
    except Fault as f:
        if f.faultCode != code:
            raise AssertionError("%s: faultCode %r (%r), want %r" % (what, f.faultCode, f.faultString, code))
        checks += 1
        check("double(7) after " + what, proxy.double(7), 14)
        return f.faultString
    raise AssertionError("%s: returned %s, want fault %d" % (what, show(got), code))


# --- The README's call, with a default ServerProxy.
check("README double(7)", ServerProxy(URL).double(7), 14)

# --- Every value type Python can send, echoed back unchanged.
ALL_BYTES = bytes(range(256))
BIG = ("plain ascii, <&> escapes, é, 😀𝄞\n" * 40000)[:1_000_000]
CASES = [
    None, True, False,
    0, 1, -1, 2147483647, -2147483648,
    0.0, -0.0, 1e300, -1e300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, -1.5, 1e16, 123456.789,
    "", "hello", "😀𝄞", "héllo wörld", "<&>\"'", "]]>", "a]]>b<![CDATA[x]]>", "&amp; &lt; &#13;",
    "tab\there\nnewline", "  spaces around  ", " ", "\n", "\u2028\u00a0\ufeff\ufffd\x85",
    b"", b"\x00", ALL_BYTES, ALL_BYTES * 10,
    datetime(1998, 7, 17, 14, 8, 55), datetime(1, 1, 1, 0, 0, 0), datetime(9999, 12, 31, 23, 59, 59),
    [], {}, [[]], [{}], {"": ""},
    [1, "two", 3.0, None, True, b"\xff", datetime(2000, 1, 1), [], {}],
    {"a": 1, "b": [1, {"c": None, "d": [b"x", -0.0]}], "ключ😀": "v", "<&>": "escaped name", "": "empty name",
     " spaced name ": "kept"},
    {"z": 1, "a": 2, "m": 3},
    [[[[[[[[[["ten deep"]]]]]]]]]],
    BIG,
]
for case in CASES:
    check_echo(case)
check("echo() of 1 MB has the same length", len(proxy.echo(BIG)), 1_000_000)

# xmlrpc.client's own wrappers go out as the same types and come back as builtins (use_builtin_types).
check_echo(DateTime("19980717T14:08:55"), datetime(1998, 7, 17, 14, 8, 55))
check_echo(DateTime("1998-07-17T14:08:55"), datetime(1998, 7, 17, 14, 8, 55))  # the dashed form is read too
check_echo(Binary(ALL_BYTES), ALL_BYTES)
check_echo((1, "tuple"), [1, "tuple"])

# Python writes CR raw and every XML parser reads a raw CR (alone or before LF) as LF, so a CR cannot travel in
# this direction. Python's own round trip loses it the same way:
check("Python's own dumps/loads of CR", xmlrpc.client.loads(xmlrpc.client.dumps(("a\r\nb\rc",)))[0][0],
      "a\nb\nc")
check_echo("a\r\nb", "a\nb")
check_echo("a\rb", "a\nb")
check_echo("\r", "\n")

# With encoding="us-ascii", Python writes every other character as a character reference (&#233; &#128512;).
ascii_proxy = ServerProxy(URL, encoding="us-ascii", allow_none=True, use_builtin_types=True)
check("echo through character references", ascii_proxy.echo(["é 😀𝄞 <&>", {"ключ": "ü"}]),
      ["é 😀𝄞 <&>", {"ключ": "ü"}])
# ISO-8859-1 requests (declared in the XML declaration) are read too; the answer comes back in UTF-8.
latin1_proxy = ServerProxy(URL, encoding="iso-8859-1", allow_none=True, use_builtin_types=True)
check("an ISO-8859-1 request", latin1_proxy.echo("plain"), "plain")
check("an ISO-8859-1 request with é and ÿ", latin1_proxy.echo("café ÿ"), "café ÿ")

# --- Integers beyond 32 bits: Python refuses to send them (no <i8> in its marshaller) but reads them.
try:
    proxy.echo(2 ** 31)
except OverflowError:
    check("Python cannot send 2**31", True, True)
else:
    raise AssertionError("Python sent 2**31: update this test, the server can now be checked for <i8> input")
check("big_ints()", proxy.big_ints(), [2 ** 31, -2 ** 31 - 1, 2 ** 53 + 1, 2 ** 63 - 1, -2 ** 63])
check("double(2147483647) crosses into <i8>", proxy.double(2147483647), 4294967294)

# --- Faults, and the server answers after each.
check_fault("unknown method", lambda: proxy.no_such_method(1), -32601)
msg = check_fault("unknown non-ASCII method", lambda: getattr(proxy, "мир😀")(), -32601)
check("the fault names the method", "мир😀" in msg, True)
check_fault("too few params", lambda: proxy.double(), -32602)
check_fault("too many params", lambda: proxy.double(1, 2), -32602)
check_fault("a string for an i64", lambda: proxy.double("seven"), -32602)
check_fault("a double for an i64", lambda: proxy.double(1.5), -32602)
msg = check_fault("a handler panic", lambda: proxy.boom(), -32603)
check("the panic message is not leaked", "on purpose" in msg, False)
msg = check_fault("a handler error", lambda: proxy.lookup("nope"), 404)
check("the handler error's message", msg, 'no such key: "nope"')
check("lookup of a known key", proxy.lookup("answer"), "42")
check_fault("a NUL character (not XML)", lambda: proxy.echo("\x00"), -32700)
check_fault("an infinite double", lambda: proxy.echo(float("inf")), -32600)
check_fault("a NaN", lambda: proxy.echo(float("nan")), -32600)
check_fault("nesting beyond the limit", lambda: proxy.echo(eval("[" * 200 + "]" * 200)), -32600)

# --- system.multicall through xmlrpc.client.MultiCall: answers in order, faults in place.
multi = xmlrpc.client.MultiCall(proxy)
multi.double(2)
multi.echo(["x", None])
multi.no_such_method()
multi.lookup("nope")
multi.double(3)
results = multi()
check("multicall answer 0", results[0], 4)
check("multicall answer 1", results[1], ["x", None])
check_fault("multicall: an unknown method in place", lambda: results[2], -32601)
check_fault("multicall: a handler error in place", lambda: results[3], 404)
check("multicall answer 4", results[4], 6)

# --- Introspection as Python's ServerProxy.system sees it.
check("system.listMethods", proxy.system.listMethods(),
      ["big_ints", "boom", "double", "echo", "lookup", "peer_port",
       "system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"])
check("system.methodHelp", proxy.system.methodHelp("double"), "Returns num * 2.")
check("system.methodSignature", proxy.system.methodSignature("double"), [["int", "int"]])
check("system.methodSignature without the context param", proxy.system.methodSignature("peer_port"), [["int"]])
check_fault("system.methodHelp of an unknown method", lambda: proxy.system.methodHelp("nope"), -32601)

# --- gzip both ways: a Transport that compresses every request and notes how each answer was encoded.
class GzipTransport(xmlrpc.client.Transport):
    encode_threshold = 0

    def parse_response(self, response):
        self.answer_encoding = response.getheader("Content-Encoding", "")
        return super().parse_response(response)


gzip_transport = GzipTransport(use_builtin_types=True)
gzip_proxy = ServerProxy(URL, transport=gzip_transport, allow_none=True)
check("a gzip request", gzip_proxy.echo("small"), "small")
check("a small answer is not compressed", gzip_transport.answer_encoding, "")
check("a 1 MB gzip request", gzip_proxy.echo(BIG), BIG)
check("a 1 MB answer is compressed", gzip_transport.answer_encoding, "gzip")

# --- Keep-alive: one ServerProxy reuses its connection.
ports = {proxy.peer_port() for _ in range(10)}
check("client ports over 10 calls on one ServerProxy", len(ports), 1)

print("ok", checks)

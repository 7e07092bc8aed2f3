"""zerorpc-python's client against our zerorpc server (the interop service): calls, a stream, faults as
RemoteError, introspection, and a 12 s call kept alive by our heartbeats. Prints "ok"."""
import sys
import time

import zerorpc

endpoint = sys.argv[1]
client = zerorpc.Client(endpoint, timeout=30)

assert client.double(21) == 42, "double(21)"
assert client.add(2, 3) == 5
assert client.echo({"a": [1, 2.5, None, "é"]}) == {"a": [1, 2.5, None, "é"]}

# A stream method is called by its plain name, as @zerorpc.stream methods are.
assert list(client.count(3)) == [0, 1, 2], "count(3)"
assert list(client.count(3, 5)) == [0, 1, 2]
# More items than zerorpc's 100 credits: paced by _zpc_more.
assert list(client.count(1000)) == list(range(1000)), "count(1000)"
assert client.streams_open() == 0

for call, name, message in [
    (lambda: client.fail(42, "custom message"), "Fault(42)", "custom message"),
    (lambda: client.nope(), "Fault(-32601)", 'method not found: "nope"'),
    (lambda: client.double("x"), "Fault(-32602)", None),
]:
    try:
        call()
    except zerorpc.RemoteError as e:
        assert e.name == name, (e.name, name)
        assert message is None or e.msg == message, (e.msg, message)
    else:
        raise AssertionError(f"no RemoteError {name}")

inspect = client._zerorpc_inspect()
assert inspect["name"] == "interop", inspect["name"]
assert inspect["methods"]["double"]["args"] == [{"name": "num"}], inspect["methods"]["double"]
assert inspect["methods"]["double"]["doc"] == "Returns num * 2.", inspect["methods"]["double"]
assert "count" in inspect["methods"] and "subscribe_count" not in inspect["methods"]
assert client._zerorpc_name() == "interop"
assert client._zerorpc_ping() == ["pong", "interop"]
assert "double" in client._zerorpc_list()

# Longer than two of zerorpc's 5 s heartbeats: our server's heartbeats keep the client from LostRemote.
started = time.monotonic()
assert client.sleep(12000) == 12000
assert time.monotonic() - started >= 12
print("ok")

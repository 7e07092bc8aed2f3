"""MessagePack-RPC over a raw socket with the `msgpack` package, driving rpc-msgpack's server.

Usage: python3 client.py HOST PORT. Asserts on the Python side; prints `ok` at the end.
"""
import socket
import sys
import time

import msgpack

sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)


def send(*messages):
    """All messages in one write."""
    sock.sendall(b"".join(msgpack.packb(m, use_bin_type=True) for m in messages))


def recv():
    while True:
        for message in unpacker:
            return message
        data = sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        unpacker.feed(data)


def call(msgid, method, *params):
    send([0, msgid, method, list(params)])
    message = recv()
    assert message[:2] == [1, msgid], message
    return message[2], message[3]


# The double pair.
send([0, 1, "double", [8]])
assert recv() == [1, 1, None, 16]

# A pipelined batch in one write: every answer comes back, matched by id.
send(*[[0, 1000 + i, "double", [i]] for i in range(500)])
answers = {}
for _ in range(500):
    kind, msgid, error, result = recv()
    assert kind == 1 and error is None, (kind, msgid, error)
    answers[msgid] = result
assert answers == {1000 + i: 2 * i for i in range(500)}

# A slow call does not hold up a fast one sent after it.
send([0, 2, "sleep", [300]], [0, 3, "double", [1]])
assert recv() == [1, 3, None, 2]
assert recv() == [1, 2, None, 300]

# A notification gets no answer: the next message is the answer to the request after it.
send([2, "record", ["from python"]], [0, 4, "double", [2]])
assert recv() == [1, 4, None, 4]
for attempt in range(100):
    error, notes = call(5, "notes")
    if notes:
        break
    time.sleep(0.02)
assert notes == ["from python"], notes

# Error replies: [code, message].
error, result = call(6, "no_such_method")
assert error[0] == -32601 and "no_such_method" in error[1] and result is None, error
error, _ = call(7, "double", "eight")
assert error[0] == -32602, error
error, _ = call(8, "fail", 42, "my fault")
assert error == [42, "my fault"], error
error, _ = call(9, "explode")
assert error[0] == -32603, error

# A method name sent as bin (as pynvim does) is accepted.
assert call(10, b"double", 21) == (None, 42)

# Values survive the round trip: integer extremes, bin, ext, maps with keys of any type.
for value in [
    2**64 - 1,
    -(2**63),
    2**63 - 1,
    1.5,
    b"\x00\xff",
    "ünïcode",
    msgpack.ExtType(5, b"xyz"),
    msgpack.Timestamp(1_700_000_000, 5),  # ext -1, which Python reads as a timestamp
    {1: "one", b"k": [1, None], None: {2: 3}},
    [None, True, False, []],
]:
    assert call(11, "echo", value) == (None, value), value

# The server calls back: its handler calls our `py_double` on this connection while we wait for its answer.
send([0, 12, "call_back", ["py_double", [4]]])
kind, server_id, method, params = recv()
assert (kind, method, params) == (0, "py_double", [4]), (kind, method, params)
send([1, server_id, None, params[0] * 2])
assert recv() == [1, 12, None, 8]

# And its errors come back to us as faults.
send([0, 13, "call_back", ["py_fail", []]])
kind, server_id, method, params = recv()
send([1, server_id, [77, "python says no"], None])
assert recv() == [1, 13, [77, "python says no"], None]

print("ok")

"""A raw peer that cancels a call, LSP's way: slow_bump(1000), then $/cancelRequest for its id.

    python3 cancel_peer.py msgpack|ndjson|ws ADDRESS

ADDRESS is HOST:PORT (msgpack, ndjson over TCP) or a ws:// URL. Checks that the call is answered with -32800
within 100 ms of the cancellation, that an unknown id is ignored (the connection goes on), and that the
counter is unchanged 1.5 s later (the handler was dropped, not left to finish). Prints "ok".
"""
import json
import socket
import sys
import time

mode, address = sys.argv[1], sys.argv[2]


class Msgpack:
    def __init__(self):
        import msgpack
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.unpacker = msgpack.Unpacker(raw=False)
        self.packb = msgpack.packb

    def call(self, msgid, method, params):
        self.sock.sendall(self.packb([0, msgid, method, params]))

    def cancel(self, msgid):
        self.sock.sendall(self.packb([2, "$/cancelRequest", [msgid]]))

    def answer(self):
        """(msgid, error code or None, result)"""
        while True:
            for message in self.unpacker:
                _, msgid, error, result = message
                return msgid, (error[0] if error else None), result
            self.unpacker.feed(self.sock.recv(65536))


class Ndjson:
    def __init__(self):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.buf = b""

    def send(self, message):
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def call(self, msgid, method, params):
        self.send({"jsonrpc": "2.0", "id": msgid, "method": method, "params": params})

    def cancel(self, msgid):
        self.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": msgid}})

    def line(self):
        while b"\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def answer(self):
        reply = json.loads(self.line())
        error = reply.get("error")
        return reply["id"], (error["code"] if error else None), reply.get("result")


class Ws(Ndjson):
    def __init__(self):
        from websockets.sync.client import connect
        self.ws = connect(address, legacy=True, proxy=None)

    def send(self, message):
        self.ws.send(json.dumps(message))

    def line(self):
        return self.ws.recv(timeout=10)


peer = {"msgpack": Msgpack, "ndjson": Ndjson, "ws": Ws}[mode]()

peer.call(1, "slow_bump", [1000])
time.sleep(0.2)  # the handler is running
cancelled_at = time.monotonic()
peer.cancel(1)
msgid, code, _ = peer.answer()
elapsed = time.monotonic() - cancelled_at
assert (msgid, code) == (1, -32800), (msgid, code)
assert elapsed < 0.1, "answered %.3f s after the cancellation" % elapsed

# An id of no call running: ignored; the connection serves on.
peer.cancel(99)
peer.call(2, "double", [21])
assert peer.answer() == (2, None, 42)

time.sleep(1.5)
peer.call(3, "counter", [])
msgid, code, counter = peer.answer()
assert (msgid, code, counter) == (3, None, 0), "counter %r: the cancelled handler ran on" % counter
print("ok")

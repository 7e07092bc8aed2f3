"""A raw peer of the interop service's stream method `count` (a subscription), checking the wire byte for byte.

    python3 stream_peer.py finite|unsubscribe|close msgpack|ndjson|ws ADDRESS
    python3 stream_peer.py stall NDJSON_ADDRESS MSGPACK_ADDRESS SERVER_PID SECONDS

ADDRESS is HOST:PORT (msgpack, ndjson: newline-delimited JSON over TCP) or a ws:// URL. Every message received
is compared with the exact one expected: for JSON-RPC its bytes (a line without its "\\n", or a WebSocket text
message) with the literal text; for MessagePack-RPC its decoded structure (types included: true is no 1) and its
raw bytes with what msgpack.packb makes of that structure.

- finite: subscribe_count(3, 5) answers id 1, then items 0, 1, 2 and the end; unsubscribing an id that is no
  longer (or never was) open answers false; a second subscription on the connection gets id 2; nothing else.
- unsubscribe: a stream for ever at 1 ms: 5 items, then unsubscribe_count: true, with only further items before
  it and nothing at all for 300 ms after it; streams_open then answers 0 (polled up to 100 ms).
- close: connection A subscribes for ever at 1 ms and reads one item; connection B sees streams_open 1, then
  after A's socket is closed sees 0 within 100 ms.
- stall: a JSON (TCP) and a MessagePack subscriber each subscribe for ever at 0 ms and never read; for SECONDS,
  every second: the server's VmRSS (read from /proc/SERVER_PID/status) stays under 50 MB, double(21) answers 42
  within 1 s on another connection (a kept one and a fresh one), and streams_open stays 2 (paused, not
  dropped); past the first 5 s (the sockets filled by then) the server uses under 1 s of CPU in all. Then each
  stalled subscriber reads: the answer and items 0, 1, 2, ... none missing, beyond what the sockets held (the
  stream resumes where it paused); once the two close their sockets, streams_open is 0 within 1 s.

Prints "ok" on stdout (measurements go to stderr); fails with a message saying what differed otherwise.
"""
import collections
import json
import os
import socket
import sys
import time

ANSWER_WAIT = 5.0  # how long any expected message may take to arrive
SETTLED = 5  # stall: the seconds after which the stalled streams have filled their sockets and wait


def fail(why):
    sys.exit("stream_peer %s: %s" % (" ".join(sys.argv[1:]), why))


def note(line):
    print(line, file=sys.stderr)


class Msg:
    """One message received: its raw bytes, what it decodes to, and its kind ("answer" with key = its id, "push"
    with key = its subscription id, else "other")."""

    def __init__(self, raw, decoded, kind, key):
        self.raw, self.decoded, self.kind, self.key = raw, decoded, kind, key

    def __repr__(self):
        return repr(self.raw)


def host_port(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


class Json:
    """JSON-RPC 2.0: what is sent is spelled as literally as what is expected (no spaces)."""

    def call(self, msgid, method, params):
        self.send_text(
            '{"jsonrpc":"2.0","id":%d,"method":"%s","params":%s}'
            % (msgid, method, json.dumps(params, separators=(",", ":")))
        )

    @staticmethod
    def answer(msgid, result):
        return '{"jsonrpc":"2.0","result":%s,"id":%d}' % (json.dumps(result), msgid)

    @staticmethod
    def item(sid, i):
        return '{"jsonrpc":"2.0","method":"count","params":{"subscription":%d,"result":%d}}' % (sid, i)

    @staticmethod
    def end(sid):
        return '{"jsonrpc":"2.0","method":"count","params":{"subscription":%d,"error":null}}' % sid

    @staticmethod
    def matches(msg, expected):
        return msg.raw == expected.encode()

    @staticmethod
    def show(expected):
        return repr(expected.encode())

    def read(self, timeout):
        raw = self.recv_raw(timeout)
        if raw is None:
            return None
        try:
            decoded = json.loads(raw)
        except ValueError as e:
            fail("received %r, which is not JSON: %s" % (raw, e))
        if not isinstance(decoded, dict):
            return Msg(raw, decoded, "other", None)
        if "id" in decoded and "method" not in decoded:
            return Msg(raw, decoded, "answer", decoded["id"])
        params = decoded.get("params")
        if decoded.get("method") == "count" and isinstance(params, dict) and "subscription" in params:
            return Msg(raw, decoded, "push", params["subscription"])
        return Msg(raw, decoded, "other", None)


class Ndjson(Json):
    framing = 1  # the "\n" after each message
    def __init__(self, address=None, sock=None):
        self.sock = sock or socket.create_connection(host_port(address))
        self.lines, self.partial = collections.deque(), b""

    def send_text(self, text):
        self.sock.sendall(text.encode() + b"\n")

    def recv_raw(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.lines:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                fail("the server closed the connection (unterminated: %r)" % self.partial)
            lines = (self.partial + chunk).split(b"\n")
            self.partial = lines.pop()
            self.lines.extend(lines)
        return self.lines.popleft()

    def close(self):
        self.sock.close()


class Ws(Json):
    framing = 0
    def __init__(self, address):
        from websockets.sync.client import connect

        # A plain connection object (not the context manager websockets 17 prefers), straight to the server.
        self.ws = connect(address, legacy=True, proxy=None)

    def send_text(self, text):
        self.ws.send(text)

    def recv_raw(self, timeout):
        try:
            message = self.ws.recv(timeout=max(timeout, 0))
        except TimeoutError:
            return None
        if not isinstance(message, str):
            fail("received a binary WebSocket message where text was expected: %r" % message)
        return message.encode()

    def close(self):
        self.ws.close()


def same(a, b):
    """Equal with types: True is not 1 here, nor 1 True."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


class Msgpack:
    framing = 0
    def __init__(self, address=None, sock=None):
        import msgpack

        self.packb = msgpack.packb
        self.sock = sock or socket.create_connection(host_port(address))
        self.unpacker = msgpack.Unpacker(raw=False)
        self.data = bytearray()  # every byte received, to cut each message's raw bytes from
        self.start = 0

    def call(self, msgid, method, params):
        self.sock.sendall(self.packb([0, msgid, method, params]))

    @staticmethod
    def answer(msgid, result):
        return [1, msgid, None, result]

    @staticmethod
    def item(sid, i):
        return [2, "count", [sid, i]]

    @staticmethod
    def end(sid):
        return [2, "count", [sid, None, None]]

    def matches(self, msg, expected):
        return same(msg.decoded, expected) and msg.raw == self.packb(expected)

    def show(self, expected):
        return "%r (%r)" % (expected, self.packb(expected))

    def read(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                decoded = next(self.unpacker)
                break
            except StopIteration:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                fail("the server closed the connection")
            self.data += chunk
            self.unpacker.feed(chunk)
        end = self.unpacker.tell()
        raw, self.start = bytes(self.data[self.start : end]), end
        if isinstance(decoded, list) and len(decoded) == 4 and decoded[0] == 1:
            return Msg(raw, decoded, "answer", decoded[1])
        if isinstance(decoded, list) and len(decoded) == 3 and decoded[:2] == [2, "count"] and decoded[2]:
            return Msg(raw, decoded, "push", decoded[2][0])
        return Msg(raw, decoded, "other", None)

    def close(self):
        self.sock.close()


PEERS = {"msgpack": Msgpack, "ndjson": Ndjson, "ws": Ws}


def must_read(peer, waiting_for, timeout=ANSWER_WAIT):
    msg = peer.read(timeout)
    if msg is None:
        fail("nothing arrived within %.1f s while waiting for %s" % (timeout, waiting_for))
    return msg


def expect(peer, expected, what):
    msg = must_read(peer, what)
    if not peer.matches(msg, expected):
        fail("%s: expected exactly %s, received %r (decoded %r)" % (what, peer.show(expected), msg.raw, msg.decoded))
    return msg


def expect_nothing(peer, seconds, why):
    deadline = time.monotonic() + seconds
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        msg = peer.read(left)
        if msg is None:
            break
        seen.append(msg.raw)
    if seen:
        fail("%s, yet %d messages arrived within %d ms: %r" % (why, len(seen), seconds * 1000, seen[:10]))


def streams_open_until(peer, first_id, wanted, within):
    """Calls streams_open on `peer` until it answers `wanted`; (seconds it took, calls made, values seen). Fails
    if it does not within `within` seconds (measured from now)."""
    start, msgid, seen = time.monotonic(), first_id, []
    while True:
        peer.call(msgid, "streams_open", [])
        msg = must_read(peer, "the answer to streams_open")
        if peer.matches(msg, peer.answer(msgid, wanted)):
            return time.monotonic() - start, msgid - first_id + 1, seen
        if msg.kind != "answer" or msg.key != msgid:
            fail("waiting for the answer to streams_open (id %d), received %r" % (msgid, msg.raw))
        seen.append(msg.decoded)
        if time.monotonic() - start > within:
            fail("streams_open is not %d %d ms later: its answers %r" % (wanted, within * 1000, seen[-5:]))
        msgid += 1
        time.sleep(0.002)


def finite(transport, address):
    peer = PEERS[transport](address)
    sent = time.monotonic()
    peer.call(1, "subscribe_count", [3, 5])
    expect(peer, peer.answer(1, 1), "the answer to subscribe_count(3, 5)")
    for i in range(3):
        expect(peer, peer.item(1, i), "item %d" % i)
    took = time.monotonic() - sent
    if took < 0.009:
        fail("items 0..2 at 5 ms intervals all arrived within %.1f ms of subscribing" % (took * 1000))
    expect(peer, peer.end(1), "the end of the stream")
    peer.call(2, "unsubscribe_count", [1])
    expect(peer, peer.answer(2, False), "unsubscribe_count for the stream that has ended")
    peer.call(3, "unsubscribe_count", [99])
    expect(peer, peer.answer(3, False), "unsubscribe_count for an id never given")
    # The subscription id is the connection's own counter: the next one is 2.
    peer.call(4, "subscribe_count", [1, 0])
    expect(peer, peer.answer(4, 2), "the answer to a second subscribe_count(1, 0)")
    expect(peer, peer.item(2, 0), "item 0 of the second subscription")
    expect(peer, peer.end(2), "the end of the second subscription")
    expect_nothing(peer, 0.1, "both streams have ended")
    print("ok")


def unsubscribe(transport, address):
    peer = PEERS[transport](address)
    peer.call(1, "subscribe_count", [0, 1])
    expect(peer, peer.answer(1, 1), "the answer to subscribe_count(0, 1)")
    for i in range(5):
        expect(peer, peer.item(1, i), "item %d" % i)
    peer.call(2, "unsubscribe_count", [1])
    unsubscribed_at, following = time.monotonic(), 5
    while True:
        msg = must_read(peer, "the answer to unsubscribe_count")
        if peer.matches(msg, peer.answer(2, True)):
            break
        if peer.matches(msg, peer.item(1, following)):
            following += 1
            continue
        fail(
            "before the answer to unsubscribe_count (%s), expected only item %d, %s; received %r"
            % (peer.show(peer.answer(2, True)), following, peer.show(peer.item(1, following)), msg.raw)
        )
    answered = time.monotonic() - unsubscribed_at
    expect_nothing(peer, 0.3, "the unsubscribe was answered")
    took, calls, seen = streams_open_until(peer, 3, 0, 0.1)
    note(
        "%s: %d items arrived between unsubscribe_count and its answer (%.1f ms); streams_open 0 after %d calls "
        "(%.1f ms; before: %r)" % (transport, following - 5, answered * 1000, calls, took * 1000, seen)
    )
    print("ok")


def close(transport, address):
    a, b = PEERS[transport](address), PEERS[transport](address)
    a.call(1, "subscribe_count", [0, 1])
    expect(a, a.answer(1, 1), "the answer to subscribe_count(0, 1) on A")
    expect(a, a.item(1, 0), "item 0 on A")
    b.call(1, "streams_open", [])
    expect(b, b.answer(1, 1), "streams_open on B while A's stream is open")
    closed_at = time.monotonic()
    a.close()
    _, calls, seen = streams_open_until(b, 2, 0, 2.0)
    took = time.monotonic() - closed_at
    if took > 0.1:
        fail("streams_open reached 0 only %.1f ms after A closed (limit 100 ms); before: %r" % (took * 1000, seen))
    note("%s: streams_open 0 %.1f ms after A closed (%d calls; before: %r)" % (transport, took * 1000, calls, seen))
    print("ok")


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    fail("no %s in /proc/%d/status" % (field, pid))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime: fields 14 and 15 of stat(5), here 11 and 12 after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unread_bytes(sock):
    import fcntl
    import struct
    import termios

    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def server_send_queue(sock):
    """The bytes the server's end of `sock`'s connection holds in its kernel send queue (from /proc/net/tcp)."""
    client_port, server_port = sock.getsockname()[1], sock.getpeername()[1]
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            if (local, remote) == (server_port, client_port):
                return int(fields[4].split(":")[0], 16)
    fail("the server's end of the connection from port %d is not in /proc/net/tcp" % client_port)


def drain(peer, queued, what):
    """Reads what a stalled subscriber left unread and then some: the answer (id 1), then items 0, 1, 2, ...
    none missing, until `queued` bytes and 64 kB more have been read (so items made after the stall ended too).
    How many items were read."""
    expect(peer, peer.answer(1, 1), "the answer to the %s subscriber's subscribe_count, read after the stall" % what)
    i, read, deadline = 0, 0, time.monotonic() + 20
    while read < queued + 65536:
        msg = must_read(peer, "item %d of the %s subscriber, after the stall" % (i, what))
        if not peer.matches(msg, peer.item(1, i)):
            fail(
                "the %s subscriber, reading after the stall, expected item %d, %s; received %r"
                % (what, i, peer.show(peer.item(1, i)), msg.raw)
            )
        read += len(msg.raw) + peer.framing
        i += 1
        if time.monotonic() > deadline:
            fail("the %s subscriber read only %d of %d bytes within 20 s after the stall" % (what, read, queued))
    return i


def stall(ndjson_address, msgpack_address, pid, seconds):
    import msgpack

    pid, seconds = int(pid), int(seconds)
    if seconds <= SETTLED:
        fail("the stall must last more than %d s" % SETTLED)
    limit_kb = 50 * 1024  # 50 MB
    baseline_kb = status_kb(pid, "VmRSS")
    started = time.monotonic()
    # The stalled subscribers: a subscribe for ever at 0 ms each, and then never a read.
    stalled_json = socket.create_connection(host_port(ndjson_address))
    stalled_json.sendall(b'{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,0]}\n')
    stalled_msgpack = socket.create_connection(host_port(msgpack_address))
    stalled_msgpack.sendall(msgpack.packb([0, 1, "subscribe_count", [0, 0]]))
    kept = Ndjson(ndjson_address)
    took, _, _ = streams_open_until(kept, 1, 2, 2.0)
    # CPU: the burst that fills the sockets and the write queues (about 4 MB of kernel buffer per connection,
    # tcp_wmem's maximum, half a million MessagePack items), then the stall itself, from SETTLED s on.
    cpu_start, max_kb, slowest, msgid = cpu_seconds(pid), baseline_kb, 0.0, 1000
    cpu_settled = None
    for second in range(seconds):
        if second == SETTLED:
            cpu_settled = cpu_seconds(pid)
        max_kb = max(max_kb, status_kb(pid, "VmRSS"))
        if max_kb >= limit_kb:
            fail("the server's VmRSS reached %d kB after %d s of stalled subscribers" % (max_kb, second))
        for fresh in (False, True):
            peer = Msgpack(msgpack_address) if fresh else kept
            msgid += 1
            asked = time.monotonic()
            peer.call(msgid, "double", [21])
            msg = must_read(peer, "double(21) at second %d" % second, timeout=1.0)
            if not peer.matches(msg, peer.answer(msgid, 42)):
                fail("double(21) at second %d answered %r" % (second, msg.raw))
            slowest = max(slowest, time.monotonic() - asked)
            if fresh:
                peer.close()
        msgid += 1
        kept.call(msgid, "streams_open", [])
        msg = must_read(kept, "streams_open at second %d" % second, timeout=1.0)
        if not kept.matches(msg, kept.answer(msgid, 2)):
            fail("streams_open at second %d answered %r, not 2: a stalled stream was dropped" % (second, msg.raw))
        time.sleep(max(0.0, started + second + 1 - time.monotonic()))
    max_kb = max(max_kb, status_kb(pid, "VmRSS"))
    cpu_end = cpu_seconds(pid)
    burst, cpu = cpu_settled - cpu_start, cpu_end - cpu_settled
    if cpu > 1.0:
        fail(
            "the server used %.2f s of CPU in the last %d s with its only subscribers stalled: their streams are "
            "not paused" % (cpu, seconds - SETTLED)
        )
    # Paused, not dropped nor lossy: once read, each stalled stream goes on from where it stopped, not an item
    # missing, and past what the sockets held.
    stalled = [(Ndjson(sock=stalled_json), "JSON"), (Msgpack(sock=stalled_msgpack), "MessagePack")]
    waiting, items = [], []
    for peer, what in stalled:
        unread, queued = unread_bytes(peer.sock), server_send_queue(peer.sock)
        if unread == 0:
            fail("the %s subscriber was sent nothing" % what)
        waiting.append((unread, queued))
        items.append(drain(peer, unread + queued, what))
    msgid += 1
    kept.call(msgid, "streams_open", [])
    expect(kept, kept.answer(msgid, 2), "streams_open once the stalled subscribers have read")
    closed_at = time.monotonic()
    stalled_json.close()
    stalled_msgpack.close()
    _, calls, seen = streams_open_until(kept, msgid + 1, 0, 1.0)
    gone = time.monotonic() - closed_at
    note(
        "stall: %d s; VmRSS %d kB before, at most %d kB; slowest double(21) %.1f ms; server CPU %.2f s in the "
        "first %d s, %.2f s in the %d s after; unread at the stalled clients, and in the server's kernel send "
        "queue: %d B and %d B (JSON), %d B and %d B (MessagePack); items read after the stall, in order: %d (JSON), "
        "%d (MessagePack); streams_open 2 %.1f ms after subscribing, 0 %.1f ms after the stalled clients closed "
        "(%d calls; before: %r)"
        % (seconds, baseline_kb, max_kb, slowest * 1000, burst, SETTLED, cpu, seconds - SETTLED, waiting[0][0],
           waiting[0][1], waiting[1][0], waiting[1][1], items[0], items[1], took * 1000, gone * 1000, calls, seen)
    )
    print("ok")


scenario = sys.argv[1]
if scenario == "stall":
    stall(*sys.argv[2:6])
else:
    {"finite": finite, "unsubscribe": unsubscribe, "close": close}[scenario](sys.argv[2], sys.argv[3])

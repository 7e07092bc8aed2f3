"""A MessagePack-RPC server over raw sockets with the `msgpack` package, for rpc-msgpack's client.

Prints its port first. Each request runs on a thread of its own, so answers come back in any order. Methods:
double, sleep(ms), notes (what `record` notifications brought), the error shapes other peers send
(fail_list, fail_str, fail_map), and ask_client(method, params), which calls the client back.
"""
import itertools
import socket
import threading
import time

import msgpack

notes = []
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)


def serve(conn):
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    lock = threading.Lock()
    pending = {}
    ids = itertools.count(1)

    def send(message):
        with lock:
            conn.sendall(msgpack.packb(message, use_bin_type=True))

    def handle(msgid, method, params):
        if method == "double":
            send([1, msgid, None, params[0] * 2])
        elif method == "sleep":
            time.sleep(params[0] / 1000)
            send([1, msgid, None, params[0]])
        elif method == "notes":
            send([1, msgid, None, list(notes)])
        elif method == "fail_list":
            send([1, msgid, [params[0], params[1]], None])
        elif method == "fail_str":
            send([1, msgid, "a plain string error", None])
        elif method == "fail_map":
            send([1, msgid, {"code": 5, "message": "from a map"}, None])
        elif method == "ask_client":
            call_id = next(ids)
            done = threading.Event()
            pending[call_id] = [done, None]
            send([0, call_id, params[0], params[1]])
            done.wait(10)
            error, result = pending.pop(call_id)[1]
            send([1, msgid, error, result])
        else:
            send([1, msgid, [-32601, "no method " + str(method)], None])

    while True:
        data = conn.recv(65536)
        if not data:
            break
        unpacker.feed(data)
        for message in unpacker:
            if message[0] == 0:
                threading.Thread(target=handle, args=message[1:], daemon=True).start()
            elif message[0] == 1:
                entry = pending[message[1]]
                entry[1] = (message[2], message[3])
                entry[0].set()
            elif message[0] == 2 and message[1] == "record":
                notes.append(message[2][0])


while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()

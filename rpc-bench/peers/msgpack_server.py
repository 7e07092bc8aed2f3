"""The Python peer for MessagePack-RPC: asyncio + the msgpack package, serving double().

Answers requests as they are read (pipelined), one write per batch of answers. Prints `ready HOST:PORT` once
listening on an OS-picked loopback port; exits when its standard input closes.
"""
import asyncio
import os
import socket
import sys
import threading

import msgpack


def double(num):
    return num * 2


METHODS = {"double": double}


class Connection(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.unpacker = msgpack.Unpacker(raw=False)

    def data_received(self, data):
        self.unpacker.feed(data)
        out = []
        for message in self.unpacker:
            if len(message) != 4 or message[0] != 0:
                continue
            _, msgid, method, params = message
            handler = METHODS.get(method)
            if handler is None:
                out.append(msgpack.packb([1, msgid, [-32601, "method not found: %r" % method], None]))
                continue
            try:
                out.append(msgpack.packb([1, msgid, None, handler(*params)]))
            except Exception as e:  # a fault, not a crash
                out.append(msgpack.packb([1, msgid, [-32603, str(e)], None]))
        if out:
            self.transport.write(b"".join(out))


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print("ready 127.0.0.1:%d" % port, flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    async with server:
        await server.serve_forever()


asyncio.run(main())

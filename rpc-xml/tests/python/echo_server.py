"""Python's xmlrpc.server as the peer of the Rust client (rpc-xml/tests/python_interop.rs).

Binds 127.0.0.1 port 0, prints the port on the first stdout line, then serves until killed: echo, double,
describe, fail (raises), seen (the requests so far), system.multicall and introspection.
With --keep-alive it speaks HTTP/1.1 and serves connections on threads (the default SimpleXMLRPCServer speaks
HTTP/1.0 and closes every connection after one response).
"""
import socketserver
import sys
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

KEEP_ALIVE = "--keep-alive" in sys.argv[1:]
requests = []


class Handler(SimpleXMLRPCRequestHandler):
    if KEEP_ALIVE:
        protocol_version = "HTTP/1.1"

    def do_POST(self):
        requests.append({
            "port": self.client_address[1],
            "content_encoding": self.headers.get("Content-Encoding", ""),
            "accept_encoding": self.headers.get("Accept-Encoding", ""),
        })
        super().do_POST()


if KEEP_ALIVE:
    class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
        daemon_threads = True
else:
    Server = SimpleXMLRPCServer

server = Server(("127.0.0.1", 0), requestHandler=Handler, allow_none=True, use_builtin_types=True,
                logRequests=False)


def echo(value):
    return value


def double(num):
    return num * 2


def describe(value):
    """What Python decoded: its type name and ascii() form."""
    return type(value).__name__ + " " + ascii(value)


def fail(message):
    raise ValueError(message)


def seen():
    """Each request so far (this one included): its client port and encoding headers."""
    return requests


for f in (echo, double, describe, fail, seen):
    server.register_function(f)
server.register_multicall_functions()
server.register_introspection_functions()

print(server.server_address[1])
server.serve_forever()

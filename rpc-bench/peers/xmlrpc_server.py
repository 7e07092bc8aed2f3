"""The Python peer for XML-RPC: the standard library's SimpleXMLRPCServer with ThreadingMixIn, serving double().

Prints `ready HOST:PORT` once listening on an OS-picked loopback port; exits when its standard input closes.
The listen backlog is raised from socketserver's 5 to 128 so that 32 clients reconnecting (the server speaks
HTTP/1.0 and closes every connection) are not dropped and retried by the kernel.
"""
import os
import sys
import threading
from socketserver import ThreadingMixIn
from xmlrpc.server import SimpleXMLRPCServer


class Server(ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    request_queue_size = 128


def double(num):
    return num * 2


def main():
    server = Server(("127.0.0.1", 0), logRequests=False, allow_none=True)
    server.register_function(double, "double")
    print("ready 127.0.0.1:%d" % server.server_address[1], flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    server.serve_forever()


main()

"""A zerorpc-python server for our client: double, a stream, an exception, a slow call. Prints its port, then
serves. `zerorpc_server.py HEARTBEAT_SECONDS`."""
import sys

import gevent
import zerorpc
import zmq


class Service(object):
    def double(self, num):
        """Returns num * 2."""
        return num * 2

    @zerorpc.stream
    def count(self, n, interval_ms=0):
        for i in range(n):
            if interval_ms:
                gevent.sleep(interval_ms / 1000.0)
            yield i

    def fail(self, message):
        raise ValueError(message)

    def sleep(self, ms):
        gevent.sleep(ms / 1000.0)
        return ms


server = zerorpc.Server(Service(), heartbeat=float(sys.argv[1]))
server.bind("tcp://127.0.0.1:*")
endpoint = server._events._socket.getsockopt(zmq.LAST_ENDPOINT).decode()
print(endpoint.rsplit(":", 1)[1], flush=True)
server.run()

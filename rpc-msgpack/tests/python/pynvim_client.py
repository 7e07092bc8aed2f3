"""pynvim's msgpack-rpc session as a client of rpc-msgpack's server. Usage: python3 pynvim_client.py HOST PORT."""
import sys

from pynvim.msgpack_rpc import tcp_session

session = tcp_session(sys.argv[1], int(sys.argv[2]))
assert session.request("double", 8) == 16
# pynvim sends a bytes method name as bin.
assert session.request(b"double", 21) == 42
assert session.request("echo", {"k": [1, 2, None]}) == {"k": [1, 2, None]}
try:
    session.request("no_such_method")
    raise AssertionError("no error")
except Exception as e:  # pynvim's NvimError, built from our [code, message]
    assert "no_such_method" in str(e), repr(e)
# A notification (pynvim's async_ request).
session.request("record", "from pynvim", async_=True)
for _ in range(100):
    notes = session.request("notes")
    if notes:
        break
assert notes == ["from pynvim"], notes
# The server notifies us back; pynvim queues what arrives while it waits for an answer.
assert session.request("notify_back", "py_event", [1, "two"]) is None
message = session.next_message()
assert list(message) == ["notification", "py_event", [1, "two"]], message
session.close()
print("ok")

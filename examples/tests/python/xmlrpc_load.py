"""Load from Python's xmlrpc.client: THREADS threads, each with its own ServerProxy (one keep-alive connection),
calling double(n) in a loop until the file STOP exists (or for at most two minutes, or 200,000 calls).

    python3 xmlrpc_load.py URL STOP [THREADS]

Every answer is checked. Prints one JSON line: {"calls": N, "failures": F, "errors": [the first few]}.
"""
import json
import os
import sys
import threading
import time
import xmlrpc.client

url, stop = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 4
deadline = time.monotonic() + 120
max_calls = 200_000
lock = threading.Lock()
calls = 0
failures = 0
errors = []


def run(worker):
    global calls, failures
    proxy = xmlrpc.client.ServerProxy(url)
    n = worker * 1_000_000
    while not os.path.exists(stop) and time.monotonic() < deadline:
        n += 1
        try:
            got = proxy.double(n)
            ok, error = got == 2 * n, None if got == 2 * n else f"double({n}) = {got!r}"
        except Exception as e:  # a failed call, whatever it is: the test counts them
            ok, error = False, f"double({n}): {type(e).__name__}: {e}"
            # A new connection, as a client whose connection broke would open.
            proxy = xmlrpc.client.ServerProxy(url)
        with lock:
            calls += 1
            if not ok:
                failures += 1
                if len(errors) < 5:
                    errors.append(error)
            if calls >= max_calls:
                return
        time.sleep(0.001)


workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print(json.dumps({"calls": calls, "failures": failures, "errors": errors}))

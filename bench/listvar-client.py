#!/usr/bin/env python3
"""LIST VAR load for the NUT benchmark: N connections, each asking `LIST VAR <ups>` and reading the whole
reply before asking again, for a duration. Every socket has TCP_NODELAY and re-arms TCP_QUICKACK after each
read, so that the client acknowledges at once (a server's line-by-line writes are not held up by our delayed
ACKs: the figure is the server's). Prints one JSON line: {"requests": n, "seconds": s, "lines": per reply}.
usage: listvar-client.py PORT UPSNAME CONNECTIONS SECONDS"""
import json
import selectors
import socket
import sys
import time

port, ups, conns, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
request = f"LIST VAR {ups}\n".encode()
end_marker = f"END LIST VAR {ups}\n".encode()
sel = selectors.DefaultSelector()
QUICKACK = getattr(socket, "TCP_QUICKACK", 12)
state = {}
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
    s.setblocking(False)
    state[s] = bytearray()
    sel.register(s, selectors.EVENT_READ)
requests = 0
lines = 0
start = time.monotonic()
deadline = start + seconds
for s in state:
    s.send(request)
while True:
    now = time.monotonic()
    if now >= deadline:
        break
    for key, _ in sel.select(timeout=deadline - now):
        s = key.fileobj
        data = s.recv(65536)
        s.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        if not data:
            sys.exit("server closed the connection")
        buf = state[s]
        buf += data
        if buf.startswith(b"ERR") and buf.endswith(b"\n"):
            # a server that has just started may not have its data yet (upsd: DATA-STALE until the driver
            # answered): ask again until the first whole reply, an error after that is a failure
            if requests > 0:
                sys.exit(buf.decode(errors="replace").strip())
            buf.clear()
            time.sleep(0.05)
            start = time.monotonic()
            deadline = start + seconds
            s.send(request)
            continue
        if buf.endswith(end_marker):
            lines = buf.count(b"\n")
            requests += 1
            buf.clear()
            s.send(request)
elapsed = time.monotonic() - start
print(json.dumps({"requests": requests, "seconds": elapsed, "lines": lines}))

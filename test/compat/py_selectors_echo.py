#!/usr/bin/python3
"""selectors-based (DefaultSelector: epoll) non-blocking echo server and client.

  py_selectors_echo.py server PORT
  py_selectors_echo.py client PORT CONNS BYTES

The client drives CONNS non-blocking connections from one selector loop:
each sends BYTES random bytes, half-closes when done, and reads the echo
until EOF; the echo must match (sha256). Prints "ok CONNS BYTES_TOTAL".
"""
import hashlib
import os
import selectors
import socket
import sys


def serve(port):
    sel = selectors.DefaultSelector()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(128)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, None)
    pending = {}  # sock -> bytearray not yet echoed
    while True:
        for key, mask in sel.select():
            if key.data is None:
                conn, _ = lsock.accept()
                conn.setblocking(False)
                pending[conn] = bytearray()
                sel.register(conn, selectors.EVENT_READ, "c")
                continue
            s = key.fileobj
            buf = pending[s]
            if mask & selectors.EVENT_READ:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    data = None
                if data == b"":
                    if buf:
                        s.setblocking(True)
                        s.sendall(buf)
                    sel.unregister(s)
                    del pending[s]
                    s.close()
                    continue
                if data:
                    buf += data
            if buf:
                try:
                    n = s.send(buf)
                    del buf[:n]
                except BlockingIOError:
                    pass
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if buf else 0)
            if want != key.events:
                sel.modify(s, want, "c")


class Conn:
    def __init__(self, port, size):
        self.payload = os.urandom(size)
        self.sent = 0
        self.got = hashlib.sha256()
        self.n = 0
        self.done = False
        self.s = socket.socket()
        self.s.setblocking(False)
        self.s.connect_ex(("127.0.0.1", port))


def client(port, conns, size):
    sel = selectors.DefaultSelector()
    cs = [Conn(port, size) for _ in range(conns)]
    for c in cs:
        sel.register(c.s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    left = conns
    while left:
        events = sel.select(timeout=30)
        if not events:
            raise RuntimeError("no progress for 30 s")
        for key, mask in events:
            c = key.data
            if mask & selectors.EVENT_WRITE and c.sent < size:
                try:
                    c.sent += c.s.send(c.payload[c.sent:c.sent + 65536])
                except BlockingIOError:
                    pass
                if c.sent == size:
                    c.s.shutdown(socket.SHUT_WR)
                    sel.modify(c.s, selectors.EVENT_READ, c)
            if mask & selectors.EVENT_READ:
                try:
                    data = c.s.recv(65536)
                except BlockingIOError:
                    continue
                if data:
                    c.got.update(data)
                    c.n += len(data)
                else:
                    sel.unregister(c.s)
                    c.s.close()
                    left -= 1
                    if c.n != size or c.got.digest() != hashlib.sha256(c.payload).digest():
                        raise RuntimeError(f"echoed {c.n} of {size} bytes, checksum mismatch")
    print("ok", conns, conns * size)


def main():
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
        return
    try:
        client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    except Exception as e:
        print("FAIL", repr(e))
        sys.exit(1)


if __name__ == "__main__":
    main()

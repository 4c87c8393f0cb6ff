#!/usr/bin/python3
"""socketserver.ThreadingTCPServer echo server and a threaded client (stdlib).

  py_threading_echo.py server PORT
  py_threading_echo.py client PORT CONNS BYTES

The client runs CONNS threads; each connects, sends BYTES random bytes with
sendall from a second thread while it reads the echo with recv, shuts down
its write side, and checks the echo (sha256). Prints "ok CONNS BYTES_TOTAL".
"""
import hashlib
import os
import socket
import socketserver
import sys
import threading


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        while True:
            data = s.recv(65536)
            if not data:
                break
            s.sendall(data)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def one(port, size, idx, results):
    try:
        payload = os.urandom(size)
        s = socket.create_connection(("127.0.0.1", port), timeout=30)

        def send():
            for off in range(0, size, 65536):
                s.sendall(payload[off:off + 65536])
            s.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=send)
        t.start()
        got = hashlib.sha256()
        n = 0
        while True:
            data = s.recv(65536)
            if not data:
                break
            got.update(data)
            n += len(data)
        t.join()
        s.close()
        ok = n == size and got.digest() == hashlib.sha256(payload).digest()
        results[idx] = n if ok else f"connection {idx}: echoed {n} of {size} bytes, checksum mismatch"
    except Exception as e:
        results[idx] = f"connection {idx}: {e!r}"


def main():
    port = int(sys.argv[2])
    if sys.argv[1] == "server":
        with Server(("127.0.0.1", port), Echo) as srv:
            srv.serve_forever()
        return
    conns, size = int(sys.argv[3]), int(sys.argv[4])
    results = [None] * conns
    threads = [threading.Thread(target=one, args=(port, size, i, results)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [r for r in results if not isinstance(r, int)]
    if bad:
        print("FAIL", "; ".join(map(str, bad)))
        sys.exit(1)
    print("ok", conns, sum(results))


if __name__ == "__main__":
    main()

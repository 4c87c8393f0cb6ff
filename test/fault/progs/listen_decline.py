# SPDX-License-Identifier: MIT
"""A TCP server whose listener X-IO declines, for test/fault/listener_declined.sh.

    listen_decline.py MODE PORT READY [PORT2]

MODE is one of
  plain         nothing special (for a process that may not join the domain)
  privdrop      listen on PORT2 first (published: this process maps the domain),
                then fork; the child drops to nobody/nogroup and serves on PORT
Once listening, READY is created; then one connection is accepted, answered with
b"hello " + MODE, and closed.
"""
import os
import socket
import sys


def listener(port, before=None, after=None):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if before:
        s.setsockopt(socket.IPPROTO_TCP, before[0], before[1])
    s.bind(("127.0.0.1", port))
    s.listen(8)
    if after:
        s.setsockopt(socket.IPPROTO_TCP, after[0], after[1])
    return s


def serve(s, mode, ready):
    open(ready, "w").close()
    c, _ = s.accept()
    c.sendall(b"hello " + mode.encode())
    c.close()


def main():
    mode, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "plain":
        serve(listener(port), mode, ready)
    elif mode == "privdrop":
        first = listener(int(sys.argv[4]))
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                serve(listener(port), mode, ready)
            finally:
                os._exit(0)
        _, st = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(st))
    else:
        sys.exit("unknown mode " + mode)


main()

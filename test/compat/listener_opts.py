# SPDX-License-Identifier: MIT
"""What a running server set on its TCP listener, seen from outside.

    listener_opts.py PID PORT

Prints "defer_accept=N fastopen=M" for the listening TCP socket on PORT
held by PID: TCP_DEFER_ACCEPT (seconds, as the kernel reads it back) and
TCP_FASTOPEN (queue length). The socket is borrowed with pidfd_getfd(2)
(needs ptrace rights: root), asked with getsockopt and given back. Run it
with Debian's /usr/bin/python3, not under X-IO. Exits 1 if PID holds no
listener on PORT.
"""
import ctypes
import os
import socket
import sys

SYS_PIDFD_GETFD = 438  # same number on x86_64 and aarch64


def listening_inodes(pid, port):
    inodes = set()
    for name in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{name}") as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if p[3] == "0A" and int(p[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{p[9]}]")
    return inodes


def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    inodes = listening_inodes(pid, port)
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") not in inodes:
                continue
        except OSError:
            continue
        mine = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
        if mine < 0:
            sys.exit(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
        s = socket.socket(fileno=mine)
        try:
            d = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT)
            q = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN)
        finally:
            s.close()
        print(f"defer_accept={d} fastopen={q}")
        return
    sys.exit(f"pid {pid} holds no TCP listener on port {port}")


if __name__ == "__main__":
    main()

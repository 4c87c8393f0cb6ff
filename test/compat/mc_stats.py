#!/usr/bin/python3
"""Print bytes_read + bytes_written of a memcached (text protocol, stdlib only).

usage: mc_stats.py PORT
"""
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"stats\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("memcached closed the connection")
    buf += chunk
s.close()
stats = {}
for line in buf.decode().splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[0] == "STAT":
        stats[parts[1]] = parts[2]
print(int(stats["bytes_read"]) + int(stats["bytes_written"]))

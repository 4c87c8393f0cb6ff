#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Proves: an asyncio program whose peer closes the connection in the middle
of loop.sendfile() gets ConnectionError (a reset or a broken pipe), as on TCP.

Both ends use 4 KiB buffers (SO_RCVBUF on the listener after listen, which
the accepted socket inherits; SO_SNDBUF on the client after connect), so a
256 KiB file cannot be in flight at once: the server reads 1 KiB, closes
with the rest unread, and the sender's next write fails. Without buffer
sizes the whole file would fit in X-IO's ring and vanish with the close,
silently. The server must have seen at least 1 KiB and not the whole file.
"""
import asyncio
import ctypes
import os
import socket
import sys
import tempfile

BUF = 4096
DATA = bytes(range(256)) * 1024  # 256 KiB
CLOSE_AFTER = 1024


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def require_xio(sock, kind=1):
    """Under xio-run (XIO_EXPECT unset or 1) @sock must be carried by X-IO."""
    if os.environ.get("XIO_EXPECT", "1") == "0":
        return
    try:
        got = ctypes.CDLL(None).xio_fd_kind(sock.fileno())
    except AttributeError:
        got = -1
    if got != kind:
        fail(f"fd {sock.fileno()}: xio_fd_kind {got}, want {kind}")


class Receiver(asyncio.Protocol):
    def __init__(self, loop):
        self.nbytes = 0
        self.transport = None
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        require_xio(transport.get_extra_info("socket"))

    def data_received(self, data):
        self.nbytes += len(data)
        if self.nbytes >= CLOSE_AFTER and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(None)


class Sender(asyncio.Protocol):
    def connection_lost(self, exc):
        pass


async def main():
    loop = asyncio.get_running_loop()
    receiver = Receiver(loop)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    server = await loop.create_server(lambda: receiver, sock=lsock)
    require_xio(lsock, 2)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUF)
    port = lsock.getsockname()[1]

    csock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    csock.connect(("127.0.0.1", port))
    require_xio(csock)
    csock.setblocking(False)
    transport, _ = await loop.create_connection(Sender, sock=csock)
    csock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUF)
    transport.set_write_buffer_limits(high=BUF)

    with tempfile.TemporaryFile() as f:
        f.write(DATA)
        f.flush()
        f.seek(0)
        try:
            sent = await asyncio.wait_for(loop.sendfile(transport, f), 10)
            fail(f"sendfile returned {sent} with no error; the peer read "
                 f"{receiver.nbytes} of {len(DATA)} bytes and closed")
        except ConnectionError as e:
            print(f"sendfile: {type(e).__name__} ({e}) after the peer read "
                  f"{receiver.nbytes} bytes")
        except asyncio.TimeoutError:
            fail("sendfile still running after 10 s")
    await asyncio.wait_for(receiver.done, 5)
    if not CLOSE_AFTER <= receiver.nbytes < len(DATA):
        fail(f"the peer read {receiver.nbytes} bytes, want {CLOSE_AFTER} to {len(DATA) - 1}")
    if not transport.is_closing():
        fail("the sender's transport is still open after the error")
    transport.close()
    server.close()
    await server.wait_closed()
    print("asyncio_sendfile_close: ok")


asyncio.run(main())

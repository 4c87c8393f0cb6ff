#!/usr/bin/python3
"""asyncio streams echo server and client (stdlib only).

  py_asyncio_echo.py server PORT
  py_asyncio_echo.py client PORT CONNS BYTES

The client opens CONNS connections at once, sends BYTES random bytes on each
in 64 KiB writes while it reads the echo, half-closes (write_eof), and
checks that the echo is byte-identical (sha256). It prints
"ok CONNS BYTES_TOTAL" and exits 0, or prints the problem and exits 1.
"""
import asyncio
import hashlib
import os
import sys


async def handle(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def serve(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def one(port, size, idx):
    payload = os.urandom(size)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send():
        for off in range(0, size, 65536):
            writer.write(payload[off:off + 65536])
            await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    got = hashlib.sha256()
    n = 0
    while True:
        data = await reader.read(65536)
        if not data:
            break
        got.update(data)
        n += len(data)
    await sender
    writer.close()
    await writer.wait_closed()
    if n != size or got.digest() != hashlib.sha256(payload).digest():
        raise RuntimeError(f"connection {idx}: echoed {n} of {size} bytes, checksum "
                           f"{'ok' if got.digest() == hashlib.sha256(payload).digest() else 'MISMATCH'}")
    return n


async def client(port, conns, size):
    res = await asyncio.gather(*(one(port, size, i) for i in range(conns)))
    print("ok", conns, sum(res))


def main():
    if sys.argv[1] == "server":
        asyncio.run(serve(int(sys.argv[2])))
    else:
        try:
            asyncio.run(client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
        except Exception as e:  # report, do not dump a traceback only
            print("FAIL", repr(e))
            sys.exit(1)


if __name__ == "__main__":
    main()

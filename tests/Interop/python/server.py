#!/usr/bin/env python3
"""python3-websockets as an independent WebSocket server for the transport's interop tests.

Listens on 127.0.0.1 and a free port, prints "READY <port>", then serves by path:
  /echo              echo every message (permessage-deflate on when the client offers it)
  /stream/N          send N text messages "000000".."N-1", then close 1000 "done"
  /fragments         a 100 KB text message in 1000-character fragments, then a fragmented binary one
  /pings/N           N pings interleaved with N 1 KB messages; prints "PONGS N" once N pongs came back
  /close/CODE        close with CODE and reason "bye"
  /invalid-utf8      a raw text frame that is not UTF-8
  /reserved-opcode   a raw frame with opcode 3
Every connection prints "CLOSE <code>" with the client's close code when it ends.
"""
import asyncio
import sys

import websockets


async def handler(ws, path=None):
    path = ws.path
    try:
        if path == "/echo":
            async for message in ws:
                await ws.send(message)
        elif path.startswith("/stream/"):
            n = int(path.split("/")[2])
            for i in range(n):
                await ws.send("%06d" % i)
            await ws.close(1000, "done")
        elif path == "/fragments":
            text = "".join("%05d€" % i for i in range(100_000 // 8))
            await ws.send(text[i:i + 1000] for i in range(0, len(text), 1000))
            data = bytes(range(256)) * 400
            await ws.send(data[i:i + 4096] for i in range(0, len(data), 4096))
            await ws.wait_closed()
        elif path.startswith("/pings/"):
            n = int(path.split("/")[2])
            waiters = []
            for i in range(n):
                waiters.append(await ws.ping(b"%d" % i))
                await ws.send(b"x" * 1024)
            await asyncio.wait_for(asyncio.gather(*waiters), 30)
            print("PONGS %d" % n, flush=True)
            await ws.wait_closed()
        elif path.startswith("/close/"):
            await ws.close(int(path.split("/")[2]), "bye")
        elif path == "/invalid-utf8":
            ws.transport.write(b"\x81\x04ok\xc3\x28")
            await ws.wait_closed()
        elif path == "/reserved-opcode":
            ws.transport.write(b"\x83\x01\x00")
            await ws.wait_closed()
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        print("CLOSE %s" % ws.close_code, flush=True)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print("READY %d" % port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

#!/usr/bin/env python3
"""python3-websockets as an independent WebSocket server for the transport's interop tests.

Listens on 127.0.0.1 and a free port, prints "READY <port>", then serves by path:
  /echo              echo every message (permessage-deflate on when the client offers it)
  /stream/N          send N text messages "000000".."N-1", then close 1000 "done"
  /feed/N            send N text messages "000000".."N-1", then wait for the client to close
  /fragments         a 100 KB text message in 1000-character fragments, then a fragmented binary one
  /pings/N           N pings interleaved with N 1 KB messages; prints "PONGS N" once N pongs came back
  /close/CODE        close with CODE and reason "bye"
  /invalid-utf8      a raw text frame that is not UTF-8
  /reserved-opcode   a raw frame with opcode 3
  /invalid-deflate   the message "before", then a raw compressed (RSV1) frame whose deflate data is invalid
Every connection prints "CLOSE <code>" with the client's close code when it ends.

permessage-deflate (RFC 7692) is configured by the command line; without options the library's
defaults apply (server_max_window_bits=12, client_max_window_bits=12 when the client offers it):
  --server-no-context-takeover    the server resets its compressor after every message (and says so)
  --client-no-context-takeover    the server asks the client to reset its compressor after every message
  --server-max-window-bits N      the server compresses with a window of at most 2^N bytes (9-15)
  --client-max-window-bits N      the client may compress with a window of at most 2^N bytes (9-15)
  --final-block                   every message the server sends ends its deflate data with a final
                                  (BFINAL=1) block, flushed with Z_FINISH and a fresh compressor per
                                  message, which RFC 7692 section 7.2.3.3 allows
  --no-deflate                    decline permessage-deflate
  --profile NAME=OPTION,...       also listen with these options on another port, announced as
                                  "LISTEN NAME PORT" before READY (repeatable)
"""
import argparse
import asyncio
import dataclasses
import sys
import zlib

import websockets
from websockets import frames
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory


class FinalBlockPerMessageDeflate(PerMessageDeflate):
    """Compresses each message with its own compressor and ends it with Z_FINISH: a final block.

    RFC 7692 7.2.3.3: a sender may flush with a BFINAL=1 block; its data then does not end with
    00 00 FF FF, so nothing is stripped, and the receiver's appended trailer lies past the end of the
    deflate stream. A fresh compressor per message is also what no context takeover means, so this
    is valid whatever was negotiated.
    """

    def encode(self, frame):
        if frame.opcode in frames.CTRL_OPCODES:
            return frame
        if frame.opcode is not frames.OP_CONT:
            frame = dataclasses.replace(frame, rsv1=True)
            self.final_encoder = zlib.compressobj(wbits=-self.local_max_window_bits, **self.compress_settings)
        if frame.fin:
            data = self.final_encoder.compress(frame.data) + self.final_encoder.flush(zlib.Z_FINISH)
            del self.final_encoder
        else:
            data = self.final_encoder.compress(frame.data) + self.final_encoder.flush(zlib.Z_SYNC_FLUSH)
        return dataclasses.replace(frame, data=data)


class FinalBlockFactory(ServerPerMessageDeflateFactory):
    """The library's negotiation, with the final-block compressor."""

    def process_request_params(self, params, accepted_extensions):
        response, ext = super().process_request_params(params, accepted_extensions)
        final = FinalBlockPerMessageDeflate(
            ext.remote_no_context_takeover,
            ext.local_no_context_takeover,
            ext.remote_max_window_bits,
            ext.local_max_window_bits,
            ext.compress_settings,
        )
        return response, final


def deflate_extensions(args):
    """The server's extension factories, or None for the library's defaults."""
    if args.no_deflate:
        return None
    configured = (args.server_no_context_takeover or args.client_no_context_takeover
                  or args.server_max_window_bits or args.client_max_window_bits or args.final_block)
    if not configured:
        return None
    factory = FinalBlockFactory if args.final_block else ServerPerMessageDeflateFactory
    return [factory(
        server_no_context_takeover=args.server_no_context_takeover,
        client_no_context_takeover=args.client_no_context_takeover,
        server_max_window_bits=args.server_max_window_bits,
        client_max_window_bits=args.client_max_window_bits,
    )]


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
        elif path.startswith("/feed/"):
            n = int(path.split("/")[2])
            for i in range(n):
                await ws.send("%06d" % i)
            await ws.wait_closed()
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
        elif path == "/invalid-deflate":
            # A compressed (RSV1) text frame whose deflate data is a block of the reserved type 3:
            # meaningful only when permessage-deflate was negotiated (else it is an RSV1 violation).
            await ws.send("before")
            ws.transport.write(b"\xc1\x02\xff\xff")
            await ws.wait_closed()
        elif path == "/reserved-opcode":
            ws.transport.write(b"\x83\x01\x00")
            await ws.wait_closed()
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        print("CLOSE %s" % ws.close_code, flush=True)


def option_parser(profile=False):
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-no-context-takeover", action="store_true")
    parser.add_argument("--client-no-context-takeover", action="store_true")
    parser.add_argument("--server-max-window-bits", type=int)
    parser.add_argument("--client-max-window-bits", type=int)
    parser.add_argument("--final-block", action="store_true")
    parser.add_argument("--no-deflate", action="store_true")
    if not profile:
        parser.add_argument("--profile", action="append", default=[])
    return parser


async def listen(args):
    """One listener with the deflate settings of args; returns the server and its port."""
    server = await websockets.serve(handler, "127.0.0.1", 0, max_size=None, ping_interval=None,
                                    extensions=deflate_extensions(args),
                                    compression=None if args.no_deflate else "deflate")
    return server, server.sockets[0].getsockname()[1]


async def main():
    args = option_parser().parse_args()
    servers = []
    for profile in args.profile:
        # --profile NAME=OPTION,OPTION,...: one more listener with those options, announced as
        # "LISTEN NAME PORT" (one process serves a whole test matrix).
        name, _, options = profile.partition("=")
        server, port = await listen(option_parser(profile=True).parse_args([o for o in options.split(",") if o]))
        servers.append(server)
        print("LISTEN %s %d" % (name, port), flush=True)
    server, port = await listen(args)
    servers.append(server)
    print("READY %d" % port, flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

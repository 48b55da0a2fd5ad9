"""A server process for the slow-reader memory tests: numbered stream items plus a progress probe.

Run: python indexed_stream_server.py [URI]  (default ``tcp://127.0.0.1:0``)
→ prints ``READY <port>`` once listening on 127.0.0.1.

* request/stream ``N:SIZE`` yields N items of SIZE bytes; item ``i`` starts with ``i`` as an
  8-byte big-endian number and is otherwise ``x``, so a reader can check order and content;
* request/response ``stats`` answers ``<produced> <paused>``: how many bytes the stream handlers
  have yielded so far, and how many connections have their send buffer over its high-water mark.

The probe is meant for a second connection: a stalled reader cannot read its own answers.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiorsocket
from aiorsocket import Payload

INDEX_BYTES = 8


class Indexed(aiorsocket.RequestHandler):
    def __init__(self) -> None:
        self.produced = 0
        self.server: aiorsocket.Server | None = None

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        count, size = (int(part) for part in payload.data.split(b":"))
        filler = b"x" * (size - INDEX_BYTES)
        for index in range(count):
            # A fresh buffer per item (as a real producer would make), freed once it is written:
            # anything that keeps items alive shows up in RSS.
            self.produced += size
            yield Payload(index.to_bytes(INDEX_BYTES, "big") + filler)

    async def request_response(self, payload: Payload) -> Payload:
        if payload.data != b"stats":
            return Payload(payload.data)
        assert self.server is not None
        paused = sum(1 for rs in self.server.connections if rs.transport.write_paused)
        return Payload(b"%d %d" % (self.produced, paused))


async def main(uri: str) -> None:
    handler = Indexed()
    async with aiorsocket.serve(handler, uri) as server:
        handler.server = server
        print(f"READY {server.port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:0"))

"""A server process for the backpressure tests: request/stream `N:SIZE` yields N items of SIZE bytes.

Run: python bulk_stream_server.py  → prints `READY <port>` once listening on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiorsocket
from aiorsocket import Payload


class Bulk(aiorsocket.RequestHandler):
    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        count, size = (int(part) for part in payload.data.split(b":"))
        body = b"x" * size  # one buffer reused: the server's own memory stays flat
        for _ in range(count):
            yield Payload(body)

    async def request_response(self, payload: Payload) -> Payload:
        return Payload(payload.data)


async def main() -> None:
    async with aiorsocket.serve(Bulk(), "tcp://127.0.0.1:0") as server:
        print(f"READY {server.port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

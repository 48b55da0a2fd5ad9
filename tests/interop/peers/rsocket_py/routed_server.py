"""A routed rsocket-py 0.4.20 server: ``RequestRouter`` + ``RoutingRequestHandler``, JSON bodies.

    python tests/interop/peers/rsocket_py/routed_server.py --port P

Prints ``READY <port>`` once listening on 127.0.0.1 (port 0 picks one).  rsocket-py's router
needs composite metadata in the SETUP.  Routes:
  greet       request/response  {"name": N}   -> {"greeting": "Hello, N!"}
  count       request/stream    {"count": N}  -> {"n": 0} .. {"n": N-1}, pulled as request-n allows
  log         fire-and-forget   anything      -> counted
  log.count   request/response                -> how many logs arrived
An unknown route is rsocket-py's own error ("...Unknown route...").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncGenerator, Awaitable
from typing import Any

from rsocket.helpers import create_future
from rsocket.payload import Payload
from rsocket.routing.request_router import RequestRouter
from rsocket.routing.routing_request_handler import RoutingRequestHandler
from rsocket.rsocket_server import RSocketServer
from rsocket.streams.stream_from_async_generator import StreamFromAsyncGenerator
from rsocket.transports.tcp import TransportTCP


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def build_router(logs: list[Any]) -> RequestRouter:
    router = RequestRouter()

    @router.response("greet")
    async def greet(payload: Payload) -> Awaitable[Payload]:
        name = json.loads(payload.data)["name"]
        return create_future(Payload(dumps({"greeting": f"Hello, {name}!"})))

    @router.stream("count")
    async def count(payload: Payload) -> StreamFromAsyncGenerator:
        total = json.loads(payload.data)["count"]

        async def items() -> AsyncGenerator[tuple[Payload, bool], None]:
            for n in range(total):
                yield Payload(dumps({"n": n})), n == total - 1

        return StreamFromAsyncGenerator(items)

    @router.fire_and_forget("log")
    async def log(payload: Payload) -> None:
        logs.append(json.loads(payload.data))

    @router.response("log.count")
    async def log_count() -> Awaitable[Payload]:
        return create_future(Payload(dumps(len(logs))))

    return router


async def serve(port: int) -> None:
    logs: list[Any] = []
    router = build_router(logs)
    connections: set[RSocketServer] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.add(
            RSocketServer(TransportTCP(reader, writer), handler_factory=lambda: RoutingRequestHandler(router))
        )

    server = await asyncio.start_server(on_connection, "127.0.0.1", port)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())

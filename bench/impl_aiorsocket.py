"""aiorsocket through its plain public API: ``serve()`` with a RequestHandler, ``connect()``."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

import aiorsocket
from aiorsocket import Payload, RequestHandler
from aiorsocket.handler import ConnectionSetup
from aiorsocket.session import RSocket
from common import COUNT_QUERY, WINDOW, parse_stream_spec, pattern, stream_spec


class BenchHandler(RequestHandler):
    """One per connection, so the fire-and-forget count is this connection's.  Its
    request/response and fire-and-forget never suspend, so they run inline (no task each)."""

    eager = True

    def __init__(self) -> None:
        self.fnf_count = 0

    async def request_response(self, payload: Payload) -> Payload:
        if payload.data == COUNT_QUERY:
            return Payload(str(self.fnf_count).encode())
        return Payload(payload.data)

    async def fire_and_forget(self, payload: Payload) -> None:
        self.fnf_count += 1

    def request_stream(self, payload: Payload) -> AsyncIterable[Payload]:
        count, size = parse_stream_spec(payload.data)
        return _items(count, pattern(size))

    def request_channel(self, payload: Payload, inbound: AsyncIterator[Payload]) -> AsyncIterable[Payload]:
        return _echo(inbound)


async def _items(count: int, item: bytes) -> AsyncIterator[Payload]:
    for _ in range(count):
        yield Payload(item)


async def _echo(inbound: AsyncIterator[Payload]) -> AsyncIterator[Payload]:
    async for payload in inbound:
        yield Payload(payload.data)


async def _acceptor(setup: ConnectionSetup, requester: RSocket) -> RequestHandler:
    return BenchHandler()


async def start_server() -> tuple[int, Callable[[], Awaitable[None]]]:
    server = await aiorsocket.serve(_acceptor, "tcp://127.0.0.1:0")

    async def close() -> None:
        await server.close(grace=1.0)

    return server.port, close


class AiorsocketClient:
    def __init__(self, rsocket: RSocket) -> None:
        self._rs = rsocket

    async def rr(self, data: bytes) -> bytes:
        return (await self._rs.request_response(Payload(data))).data

    async def fnf(self, data: bytes) -> None:
        await self._rs.fire_and_forget(Payload(data))

    async def stream(self, count: int, size: int) -> tuple[int, int]:
        items = nbytes = 0
        async for payload in self._rs.request_stream(Payload(stream_spec(count, size)), limit_rate=WINDOW):
            items += 1
            nbytes += len(payload.data)
        return items, nbytes

    async def channel(self, count: int, data: bytes) -> tuple[int, int]:
        async def outbound() -> AsyncIterator[Payload]:
            for _ in range(count - 1):
                yield Payload(data)

        items = nbytes = 0
        # The first item travels in REQUEST_CHANNEL itself.
        echoes = self._rs.request_channel(Payload(data), outbound() if count > 1 else None, limit_rate=WINDOW)
        async for payload in echoes:
            items += 1
            nbytes += len(payload.data)
        return items, nbytes

    async def close(self) -> None:
        await self._rs.aclose()


async def connect(port: int) -> AiorsocketClient:
    return AiorsocketClient(await aiorsocket.connect(f"tcp://127.0.0.1:{port}"))

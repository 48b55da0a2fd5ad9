"""Request handlers the tests share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aiorsocket import ApplicationError, Payload, RequestHandler, RSocket


class RecordingEcho(RequestHandler):
    """Records the data of every request: echoes request/response ("echo:" + data), streams the
    number of items the data names, echoes a channel, and takes fire-and-forgets."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    async def request_response(self, payload: Payload) -> Payload:
        self.seen.append(payload.data)
        return Payload(b"echo:" + payload.data)

    async def fire_and_forget(self, payload: Payload) -> None:
        self.seen.append(payload.data)

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        self.seen.append(payload.data)
        for i in range(int(payload.data)):
            yield Payload(str(i).encode())

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        self.seen.append(payload.data)
        async for item in inbound:
            yield item


class InteractionRecorder(RequestHandler):
    """Serves every interaction model for :func:`exercise_every_interaction_model`: echoes
    request/response (b"error" fails with "boom"), streams N items, echoes a channel, and
    records fire-and-forgets and metadata pushes."""

    def __init__(self) -> None:
        self.fnf: list[bytes] = []
        self.pushes: list[bytes] = []
        self.changed = asyncio.Event()

    async def request_response(self, payload: Payload) -> Payload:
        if payload.data == b"error":
            raise ApplicationError("boom")
        return Payload(b"echo:" + payload.data, payload.metadata)

    async def fire_and_forget(self, payload: Payload) -> None:
        self.fnf.append(payload.data)
        self.changed.set()

    async def metadata_push(self, metadata: bytes) -> None:
        self.pushes.append(metadata)
        self.changed.set()

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        for i in range(int(payload.data)):
            yield Payload(str(i).encode())

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        async for item in inbound:
            yield item

    async def wait_for(self, count: int) -> None:
        while len(self.fnf) + len(self.pushes) < count:
            self.changed.clear()
            await self.changed.wait()


async def exercise_every_interaction_model(rs: RSocket, handler: InteractionRecorder) -> None:
    """Request/response with metadata, fire-and-forget, metadata push, a 1,000-item stream, a
    100-item channel and an application error, each checked, over one connection."""
    assert await rs.request_response(Payload(b"hi", b"md")) == Payload(b"echo:hi", b"md")
    await rs.fire_and_forget(Payload(b"f1"))
    await rs.metadata_push(b"pushed")
    await handler.wait_for(2)
    assert (handler.fnf, handler.pushes) == ([b"f1"], [b"pushed"])
    items = [p.data async for p in rs.request_stream(Payload(b"1000"), limit_rate=10)]
    assert items == [str(i).encode() for i in range(1000)]

    async def outbound() -> AsyncIterator[Payload]:
        for i in range(1, 100):
            yield Payload(b"c%d" % i)

    echoed = [p.data async for p in rs.request_channel(Payload(b"c0"), outbound(), limit_rate=7)]
    assert echoed == [b"c%d" % i for i in range(100)]
    with pytest.raises(ApplicationError) as info:
        await rs.request_response(Payload(b"error"))
    assert (info.value.code, info.value.message) == (0x201, "boom")

"""The same client and server run unchanged on uvloop (the `uvloop` extra)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import uvloop

import aiorsocket
from aiorsocket import Payload


class Handler(aiorsocket.RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        return Payload(b"echo:" + payload.data)

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        for i in range(int(payload.data)):
            yield Payload(b"%d" % i)

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        async for item in inbound:
            yield item


async def _exercise() -> tuple[Payload, list[bytes], list[bytes], str]:
    async def outbound() -> AsyncIterator[Payload]:
        for i in range(20):
            yield Payload(b"c%d" % i)

    async with (
        aiorsocket.serve(Handler(), "tcp://127.0.0.1:0", fragment_size=1024) as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}", fragment_size=1024) as rs,
    ):
        reply = await rs.request_response(Payload(b"x" * 5000))
        items = [p.data async for p in rs.request_stream(Payload(b"300"), limit_rate=7)]
        echoed = [p.data async for p in rs.request_channel(Payload(b"first"), outbound(), limit_rate=3)]
        return reply, items, echoed, type(asyncio.get_running_loop()).__module__


def test_interaction_models_on_uvloop() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        reply, items, echoed, loop_module = runner.run(_exercise())
    assert loop_module.startswith("uvloop")
    assert reply == Payload(b"echo:" + b"x" * 5000)
    assert items == [b"%d" % i for i in range(300)]
    assert echoed == [b"first"] + [b"c%d" % i for i in range(20)]

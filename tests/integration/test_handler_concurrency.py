"""Handlers run concurrently: a slow request/response handler never holds up the others on its
connection (rsocket-py ran them one after another: 20 handlers of 50 ms took a second).

Proven by structure, not by a stopwatch: every handler waits until all twenty are running at
once (one run after another would never get there, and the bounded wait fails), then sleeps
50 ms; all twenty sleeps must overlap."""

from __future__ import annotations

import asyncio

import pytest

import aiorsocket
from aiorsocket import Payload

HANDLERS = 20


class Slow(aiorsocket.RequestHandler):
    def __init__(self) -> None:
        self.running = 0
        self.all_running = asyncio.Event()
        self.sleeps: list[tuple[float, float]] = []

    async def request_response(self, payload: Payload) -> Payload:
        self.running += 1
        if self.running == HANDLERS:
            self.all_running.set()
        await self.all_running.wait()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(0.05)
        self.sleeps.append((start, loop.time()))
        return Payload(b"done:" + payload.data)


class EagerSlow(Slow):
    eager = True


@pytest.mark.parametrize("handler_class", [Slow, EagerSlow], ids=["task-per-request", "eager"])
async def test_twenty_slow_handlers_run_at_once(handler_class: type[Slow]) -> None:
    handler = handler_class()
    async with (
        aiorsocket.serve(handler, "tcp://127.0.0.1:0") as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs,
    ):
        async with asyncio.timeout(5):
            replies = await asyncio.gather(
                *(rs.request_response(Payload(b"%d" % i)) for i in range(HANDLERS))
            )
    assert [reply.data for reply in replies] == [b"done:%d" % i for i in range(HANDLERS)]
    assert len(handler.sleeps) == HANDLERS
    # Every sleep began before any ended: all twenty were in flight together.
    assert max(start for start, _ in handler.sleeps) < min(end for _, end in handler.sleeps)

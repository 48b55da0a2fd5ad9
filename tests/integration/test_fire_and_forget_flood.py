"""A flood of fire-and-forgets to slow handlers is held back by TCP, never dropped or unbounded."""

from __future__ import annotations

import asyncio

import aiorsocket
from aiorsocket import Payload


class Slow(aiorsocket.RequestHandler):
    def __init__(self, total: int) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.done = 0
        self.total = total
        self.all_done = asyncio.Event()
        self.saturated = asyncio.Event()

    async def fire_and_forget(self, payload: Payload) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running >= 20:
            self.saturated.set()
        await self.release.wait()
        self.running -= 1
        self.done += 1
        if self.done == self.total:
            self.all_done.set()


async def test_ff_flood_pauses_reading_instead_of_dropping() -> None:
    total = 500
    handler = Slow(total)
    async with (
        aiorsocket.serve(handler, "tcp://127.0.0.1:0", max_streams=20) as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs,
    ):
        body = b"x" * 65536  # big enough that the frames need many reads
        try:
            for _ in range(total):
                await rs.fire_and_forget(Payload(body))
            # Handlers stay blocked: the server stops reading at max_streams running handlers
            # (plus what one read delivered) instead of starting all 500, or dropping any.
            await asyncio.wait_for(handler.saturated.wait(), 10)
            assert handler.peak < 100
        finally:
            handler.release.set()
        await asyncio.wait_for(handler.all_done.wait(), 30)
    assert handler.done == total

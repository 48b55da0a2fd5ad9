"""Request handlers the tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiorsocket import Payload, RequestHandler


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

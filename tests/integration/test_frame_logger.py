"""The ``frame_logger`` hook (``aiorsocket.connect(frame_logger=...)``, ``RSocket(frame_logger=...)``).

It sees every frame on the wire in both directions, in order, without the TCP length prefix, and
a connection without one runs on its transport unwrapped (the hook costs nothing when unused).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiorsocket
from aiorsocket import Payload
from aiorsocket.framelog import Direction, FrameLoggingTransport
from aiorsocket.frames import FrameType, decode_frame


class Numbers(aiorsocket.RequestHandler):
    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        for i in range(int(payload.data)):
            yield Payload(str(i).encode())


async def test_every_frame_both_directions_in_order() -> None:
    seen: list[tuple[Direction, FrameType, int]] = []

    def log(direction: Direction, frame: bytes) -> None:
        decoded = decode_frame(frame)
        seen.append((direction, decoded.frame_type, decoded.stream_id))

    async with (
        aiorsocket.serve(Numbers(), "tcp://127.0.0.1:0") as server,
        aiorsocket.connect(server.bound_uris[0], frame_logger=log) as rsocket,
    ):
        assert isinstance(rsocket.transport, FrameLoggingTransport)
        items = [item.data async for item in rsocket.request_stream(Payload(b"3"), limit_rate=2)]
    assert items == [b"0", b"1", b"2"]
    assert seen[:2] == [("send", FrameType.SETUP, 0), ("send", FrameType.REQUEST_STREAM, 1)]
    received = [kind for direction, kind, _ in seen if direction == "receive"]
    assert received.count(FrameType.PAYLOAD) >= 3
    assert ("send", FrameType.REQUEST_N, 1) in seen


async def test_no_logger_no_wrapper() -> None:
    async with (
        aiorsocket.serve(Numbers(), "tcp://127.0.0.1:0") as server,
        aiorsocket.connect(server.bound_uris[0]) as rsocket,
    ):
        assert not isinstance(rsocket.transport, FrameLoggingTransport)

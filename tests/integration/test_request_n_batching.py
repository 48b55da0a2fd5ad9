"""REQUEST_N is driven by the consumer's pulls, batched like reactor's limitRate (RN-2, RN-6)."""

from __future__ import annotations

import asyncio

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.frames import (
    Frame,
    PayloadFrame,
    RequestNFrame,
    RequestStreamFrame,
    SetupFrame,
    decode_frame,
    encode_frame_with_length,
)


async def _serve_within_credit(total: int, seen: list[Frame]) -> asyncio.Server:
    """A raw responder that sends exactly as many items as it was granted, recording every frame."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def read_frame() -> Frame:
            length = int.from_bytes(await reader.readexactly(3), "big")
            frame = decode_frame(await reader.readexactly(length))
            seen.append(frame)
            return frame

        try:
            assert isinstance(await read_frame(), SetupFrame)
            request = await read_frame()
            assert isinstance(request, RequestStreamFrame)
            credit, sent = request.initial_request_n, 0
            while sent < total:
                while credit and sent < total:
                    last = sent == total - 1
                    writer.write(
                        encode_frame_with_length(
                            PayloadFrame(request.stream_id, b"%d" % sent, next=True, complete=last)
                        )
                    )
                    credit -= 1
                    sent += 1
                await writer.drain()
                if sent < total:
                    frame = await read_frame()
                    if isinstance(frame, RequestNFrame):
                        credit += frame.request_n
            await reader.read()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize(
    ("limit_rate", "low_tide", "expected_batches"),
    [
        (10, 3, [3] * 10),  # 10 up front, then 3 each time 3 are consumed
        (8, None, [6] * 4),  # default low tide: 75% of the window
        (1, None, [1] * 29),  # one at a time
    ],
)
async def test_rn2_request_n_follows_the_consumer_in_batches(
    limit_rate: int, low_tide: int | None, expected_batches: list[int]
) -> None:
    seen: list[Frame] = []
    server = await _serve_within_credit(30, seen)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiorsocket.connect(f"tcp://127.0.0.1:{port}") as rs:
            stream = rs.request_stream(Payload(b"go"), limit_rate=limit_rate, low_tide=low_tide)
            items = [p.data async for p in stream]
    finally:
        server.close()
        await server.wait_closed()
    assert items == [b"%d" % i for i in range(30)]
    request = seen[1]
    assert isinstance(request, RequestStreamFrame)
    assert request.initial_request_n == limit_rate
    batches = [f.request_n for f in seen if isinstance(f, RequestNFrame)]
    # The last top-up may go out before the final items arrive; never more than the window.
    assert batches[: len(expected_batches)] == expected_batches[: len(batches)]
    assert sum(batches) + limit_rate >= 30
    assert all(n <= limit_rate for n in batches)


async def test_low_tide_must_fit_the_window() -> None:
    async with (
        aiorsocket.serve(aiorsocket.RequestHandler(), "tcp://127.0.0.1:0") as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs,
    ):
        with pytest.raises(aiorsocket.errors.LocalProtocolError, match="low_tide"):
            rs.request_stream(Payload(b""), limit_rate=4, low_tide=5)

"""Backpressure is real: memory stays flat under a slow consumer, and credit bounds buffering."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import aiorsocket
from aiorsocket import ErrorCode, Payload
from aiorsocket.errors import InvalidError
from aiorsocket.frames import (
    CancelFrame,
    PayloadFrame,
    RequestStreamFrame,
    SetupFrame,
    decode_frame,
    encode_frame_with_length,
)

SERVER = Path(__file__).parent / "servers" / "bulk_stream_server.py"
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture
async def bulk_server() -> AsyncIterator[tuple[int, int]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SERVER), stdout=asyncio.subprocess.PIPE, env={**os.environ}
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            line = await proc.stdout.readline()
        assert line.startswith(b"READY "), line
        yield proc.pid, int(line.split()[1])
    finally:
        proc.kill()
        await proc.wait()


@pytest.mark.slow
async def test_rn_one_gibibyte_to_a_slow_consumer_keeps_both_processes_flat(
    bulk_server: tuple[int, int],
) -> None:
    server_pid, port = bulk_server
    item_size = 64 * 1024
    count = 1024 * MIB // item_size
    async with aiorsocket.connect(f"tcp://127.0.0.1:{port}") as rs:
        # Warm up both processes (allocator pools, first buffers) before taking the baseline.
        async for _ in rs.request_stream(Payload(b"64:%d" % item_size), limit_rate=32):
            pass
        base_client, base_server = rss_bytes(os.getpid()), rss_bytes(server_pid)
        peak_client, peak_server = base_client, base_server
        received = 0
        async for item in rs.request_stream(Payload(b"%d:%d" % (count, item_size)), limit_rate=32):
            received += len(item.data)
            if received % MIB == 0:
                # The slow part of the consumer: it takes 5 ms per MiB (~200 MB/s, several
                # times slower than the producer), so unbounded demand would pile up ~GiB.
                await asyncio.sleep(0.005)
            if received % (16 * MIB) == 0:
                peak_client = max(peak_client, rss_bytes(os.getpid()))
                peak_server = max(peak_server, rss_bytes(server_pid))
    assert received == 1024 * MIB
    assert peak_client - base_client < 50 * MIB, (peak_client - base_client) / MIB
    assert peak_server - base_server < 50 * MIB, (peak_server - base_server) / MIB


async def test_rn3_responder_ignoring_credit_cannot_make_the_requester_buffer_more() -> None:
    """A rogue server sends 1,000 items against a credit of 4: the client buffers at most 4,
    then cancels the stream and fails it with INVALID (RN-3)."""
    seen: list[object] = []
    done = asyncio.Event()

    async def rogue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def read_frame() -> object:
            length = int.from_bytes(await reader.readexactly(3), "big")
            return decode_frame(await reader.readexactly(length))

        setup = await read_frame()
        assert isinstance(setup, SetupFrame)
        request = await read_frame()
        assert isinstance(request, RequestStreamFrame)
        seen.append(request)
        writer.write(
            b"".join(
                encode_frame_with_length(PayloadFrame(request.stream_id, b"%d" % i, next=True))
                for i in range(1000)
            )
        )
        await writer.drain()
        try:
            while True:
                frame = await read_frame()
                seen.append(frame)
                if isinstance(frame, CancelFrame):
                    done.set()
                    return
        finally:
            writer.close()

    server = await asyncio.start_server(rogue, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiorsocket.connect(f"tcp://127.0.0.1:{port}") as rs:
            stream = rs.request_stream(Payload(b"x"), limit_rate=4)
            await done.wait()
            items = [(await anext(stream)).data for _ in range(4)]
            assert items == [b"0", b"1", b"2", b"3"]
            with pytest.raises(InvalidError, match="more payloads than requested"):
                await anext(stream)
    finally:
        server.close()
        await server.wait_closed()
    assert seen[0] == RequestStreamFrame(1, 4, b"x")
    assert seen[-1] == CancelFrame(1)
    assert ErrorCode.INVALID == 0x204

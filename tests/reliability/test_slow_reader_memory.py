"""Unbounded demand to a reader that stalls: the server's writes wait on the transport (RN-3).

Request-n of 2^31-1 lets the responder send everything at once, so credit no longer bounds
what the server buffers; only the transport's write watermarks do.  A client asks for a
300 MiB stream with that demand and stops reading its socket: the server must park its
producer once the send buffer is full instead of queueing the rest in memory.  The stall is
detected from the server's own progress counter (it stops advancing while the connection
reports its send buffer over the high-water mark), not by sleeping for a guessed duration.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import aiorsocket
from aiorsocket import Payload, RSocket

SERVER = Path(__file__).parent / "servers" / "indexed_stream_server.py"
MIB = 1024 * 1024
ITEM_SIZE = 64 * 1024
TOTAL = 300 * MIB
RSS_BUDGET = 32 * MIB
INDEX_BYTES = 8  # as in indexed_stream_server.py
#: The stall is declared once production has not moved for STABLE_POLLS polls in a row; a
#: producer that is not blocked yields 64 KiB items far faster than one per poll interval.
POLL_INTERVAL = 0.02
STABLE_POLLS = 10
MAX_POLLS = 500


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@asynccontextmanager
async def server_process(scheme: str) -> AsyncIterator[tuple[int, int]]:
    """The server in its own process, so its RSS is the server's alone: yields (pid, port)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER),
        f"{scheme}://127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ},
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


async def server_stats(control: RSocket) -> tuple[int, int]:
    """(bytes produced by stream handlers so far, connections whose send buffer is over high water)."""
    reply = await control.request_response(Payload(b"stats"))
    produced, paused = reply.data.split()
    return int(produced), int(paused)


async def wait_for_stall(control: RSocket, produced_before: int) -> tuple[int, int]:
    """Poll until the server's producer has stopped, held back by a full send buffer; returns the stats.

    Having produced the whole stream also counts as stopped, so a server that queues everything
    instead of waiting reaches the RSS assertion rather than a timeout.  A bounded number of
    polls: a server that never stops (or never starts) fails the test.
    """
    last = -1
    stable = 0
    for _ in range(MAX_POLLS):
        produced, paused = await server_stats(control)
        held_back = paused > 0 or produced - produced_before >= TOTAL
        if produced == last and produced > produced_before and held_back:
            stable += 1
            if stable >= STABLE_POLLS:
                return produced, paused
        else:
            stable = 0
        last = produced
        await asyncio.sleep(POLL_INTERVAL)
    raise AssertionError(f"the server never stalled: produced {last - produced_before} bytes")


async def consume(stream: AsyncIterator[Payload], count: int) -> int:
    """Read the whole stream, checking every item's size, position and content; returns bytes read."""
    filler = b"x" * (ITEM_SIZE - INDEX_BYTES)
    received = 0
    index = 0
    async for item in stream:
        data = item.data
        if len(data) != ITEM_SIZE or int.from_bytes(data[:INDEX_BYTES], "big") != index:
            raise AssertionError(f"item {index}: {len(data)} bytes, index {data[:INDEX_BYTES]!r}")
        if data[INDEX_BYTES:] != filler:
            raise AssertionError(f"item {index}: corrupted body")
        received += len(data)
        index += 1
    assert index == count
    return received


@pytest.mark.parametrize("scheme", ["tcp", "ws"])
async def test_rn3_unbounded_demand_to_a_stalled_reader_keeps_server_rss_flat(scheme: str) -> None:
    count = TOTAL // ITEM_SIZE
    async with asyncio.timeout(60), server_process(scheme) as (server_pid, port):
        uri = f"{scheme}://127.0.0.1:{port}"
        # The probe gets its own connection: the stalled one cannot read the answers.
        async with aiorsocket.connect(uri) as control, aiorsocket.connect(uri) as rs:
            # Warm both connections and the server's allocator before the baseline, so the first
            # buffers any stream needs are not counted as growth.
            warm_count = 16 * MIB // ITEM_SIZE
            warm = rs.request_stream(Payload(b"%d:%d" % (warm_count, ITEM_SIZE)), limit_rate=None)
            assert await consume(warm, warm_count) == 16 * MIB
            produced_before, _ = await server_stats(control)
            base_rss = rss_bytes(server_pid)

            stream = rs.request_stream(Payload(b"%d:%d" % (count, ITEM_SIZE)), limit_rate=None)
            # The REQUEST_STREAM (n = 2^31-1) is queued to be flushed on the next loop pass; no
            # more REQUEST_N will follow, so the client need not read for the server to keep
            # going: only the transport can hold it back.
            rs.transport.pause_reading()
            produced, paused = await wait_for_stall(control, produced_before)
            stalled_rss = rss_bytes(server_pid)
            stalled_after = produced - produced_before

            rs.transport.resume_reading()
            assert await consume(stream, count) == TOTAL
            produced_after, _ = await server_stats(control)

    growth = stalled_rss - base_rss
    print(
        f"\n{scheme}: stalled after {stalled_after / MIB:.1f} MiB produced "
        f"({paused} connection paused); server RSS {base_rss / MIB:.1f} -> "
        f"{stalled_rss / MIB:.1f} MiB (growth {growth / MIB:.1f} MiB)"
    )
    # Growth is what the server holds for the stalled reader: its send buffer (up to the
    # high-water mark plus one frame) and the item the producer is parked on.
    assert growth < RSS_BUDGET, f"server RSS grew {growth / MIB:.1f} MiB under a stalled reader"
    # The stall must come well before the end, or the stream was queued rather than held back
    # (the rest sits in kernel socket buffers, which RSS does not count).
    assert stalled_after < TOTAL // 4, f"{stalled_after / MIB:.1f} MiB produced before the stall"
    assert produced_after - produced_before == TOTAL

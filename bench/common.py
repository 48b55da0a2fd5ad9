"""What every benchmark process shares: the shapes, the client interface, event loops, CPU time.

Each implementation (``impl_raw``, ``impl_aiorsocket``, ``impl_rsocket_py``,
``impl_aiorsocket_aeron``) offers the same two things: ``start_server()`` for ``server.py`` and
``connect(port)`` returning a :class:`BenchClient` for ``client.py``.  The shapes below drive a
:class:`BenchClient` and check every answer, so a fast but wrong implementation fails instead of
scoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

#: Request-n window of every stream and channel: 256 granted first, then what was consumed is
#: granted again each time 75% of the window (192) has been consumed, as reactor's limitRate(256).
WINDOW = 256
LOW_TIDE = WINDOW - (WINDOW >> 2)
#: Requests in flight at once in rr_conc.
CONCURRENCY = 128
#: The request/response body that asks the server how many fire-and-forgets this connection sent.
COUNT_QUERY = b"count"
#: Seconds the server's fire-and-forget count may stand still before the rest count as lost.
FNF_STALL = 2.0

LOOPS = ("asyncio", "uvloop")
IMPLS = ("raw", "aiorsocket", "rsocket-py", "aiorsocket-aeron")
#: What runs without ``--aeron`` (which adds aiorsocket over Aeron and starts its media driver).
DEFAULT_IMPLS = ("raw", "aiorsocket", "rsocket-py")

T = TypeVar("T")


class BenchError(Exception):
    """A shape got a wrong answer, or an implementation misbehaved."""


@dataclass(frozen=True)
class Shape:
    name: str
    count: int
    size: int
    what: str

    def scaled(self, scale: float) -> Shape:
        return Shape(self.name, max(1, round(self.count * scale)), self.size, self.what)


SHAPES = (
    Shape("rr_seq", 5_000, 32, "sequential request/response, 32 B each way"),
    Shape("rr_conc", 50_000, 32, f"request/response, {CONCURRENCY} in flight, 32 B each way"),
    Shape("stream_small", 200_000, 64, "one request/stream of 64 B items"),
    Shape("stream_large", 20_000, 16 * 1024, "one request/stream of 16 KiB items"),
    Shape("fnf", 100_000, 32, "fire-and-forget of 32 B, until the server has counted them all"),
    Shape("channel", 50_000, 32, "one request/channel, 32 B items echoed; an op is one item each way"),
)
SHAPE_NAMES = tuple(shape.name for shape in SHAPES)


def pattern(size: int) -> bytes:
    """A body of ``size`` bytes that is not all zeros, so an echo check means something."""
    return bytes(i % 251 for i in range(size))


def stream_spec(count: int, size: int) -> bytes:
    """The request/stream body: how many items of what size the server must send."""
    return f"{count}:{size}".encode()


def parse_stream_spec(body: bytes | memoryview) -> tuple[int, int]:
    count, size = bytes(body).split(b":")
    return int(count), int(size)


def tcp_nodelay(transport: asyncio.BaseTransport) -> None:
    """Request/response latency means nothing with Nagle on; every implementation gets it off."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BenchClient(Protocol):
    """One connection to a benchmark server, used through its implementation's natural API."""

    async def rr(self, data: bytes) -> bytes: ...

    async def fnf(self, data: bytes) -> None: ...

    async def stream(self, count: int, size: int) -> tuple[int, int]:
        """Consume a whole stream; returns (items, bytes) received."""

    async def channel(self, count: int, data: bytes) -> tuple[int, int]:
        """Send ``count`` items of ``data`` on one channel; returns (items, bytes) echoed back."""

    async def close(self) -> None: ...


async def fnf_count(client: BenchClient) -> int:
    return int(await client.rr(COUNT_QUERY))


def run_on(loop: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main())
    with asyncio.Runner() as runner:
        return runner.run(main())


def cpu_seconds(pid: int | str = "self") -> float:
    """On-CPU time of every thread of ``pid`` from /proc/<pid>/task/*/schedstat (nanosecond
    resolution; /proc/<pid>/stat counts in 10 ms ticks, too coarse for sub-second runs)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        # A thread may end between the listing and the read; its time is then lost either way.
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


# --- the shapes ----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a shape did: operations, payload bytes carried (both directions) and, for rr_seq,
    every request's latency in seconds."""

    ops: int
    nbytes: int
    latencies: list[float] | None = None


async def rr_seq(client: BenchClient, shape: Shape) -> Outcome:
    data = pattern(shape.size)
    clock = time.perf_counter
    latencies: list[float] = []
    record = latencies.append
    for _ in range(shape.count):
        started = clock()
        reply = await client.rr(data)
        record(clock() - started)
        if reply != data:
            raise BenchError(f"rr_seq: echo mismatch ({len(reply)} bytes back)")
    return Outcome(shape.count, 2 * shape.count * shape.size, latencies)


async def rr_conc(client: BenchClient, shape: Shape) -> Outcome:
    data = pattern(shape.size)
    left = shape.count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if await client.rr(data) != data:
                raise BenchError("rr_conc: echo mismatch")

    await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, shape.count))))
    return Outcome(shape.count, 2 * shape.count * shape.size)


async def stream(client: BenchClient, shape: Shape) -> Outcome:
    items, nbytes = await client.stream(shape.count, shape.size)
    if (items, nbytes) != (shape.count, shape.count * shape.size):
        raise BenchError(f"{shape.name}: got {items} items / {nbytes} B, expected {shape.count}")
    return Outcome(items, nbytes)


async def fnf(client: BenchClient, shape: Shape) -> Outcome:
    data = pattern(shape.size)
    for _ in range(shape.count):
        await client.fnf(data)
    # The shape ends when the server has handled every message: ask it until it has, and
    # call the rest lost once its count stops moving.
    seen, moved = 0, time.perf_counter()
    while (count := await fnf_count(client)) != shape.count:
        now = time.perf_counter()
        if count != seen:
            seen, moved = count, now
        if count > shape.count or now - moved > FNF_STALL:
            raise BenchError(f"fnf: the server counted {count} of {shape.count}")
    return Outcome(shape.count, shape.count * shape.size)


async def channel(client: BenchClient, shape: Shape) -> Outcome:
    data = pattern(shape.size)
    items, nbytes = await client.channel(shape.count, data)
    if (items, nbytes) != (shape.count, shape.count * shape.size):
        raise BenchError(f"channel: {items} echoes / {nbytes} B back, expected {shape.count}")
    return Outcome(shape.count, 2 * nbytes)


SHAPE_RUNNERS: dict[str, Callable[[BenchClient, Shape], Awaitable[Outcome]]] = {
    "rr_seq": rr_seq,
    "rr_conc": rr_conc,
    "stream_small": stream,
    "stream_large": stream,
    "fnf": fnf,
    "channel": channel,
}


#: Where each implementation lives; imported only in the processes that run it.
MODULES = {
    "raw": "impl_raw",
    "aiorsocket": "impl_aiorsocket",
    "rsocket-py": "impl_rsocket_py",
    "aiorsocket-aeron": "impl_aiorsocket_aeron",
}


def load(impl: str) -> Any:
    return importlib.import_module(MODULES[impl])

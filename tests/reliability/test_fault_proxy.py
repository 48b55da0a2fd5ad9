"""The fault-injection proxy itself: faithful forwarding, faults at exact byte offsets, seeded, bounded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from reliability.fault_proxy import Fault, FaultPlan, FaultProxy, FaultRecord

LIMIT = 10.0  # seconds any single step may take; every wait below is bounded by it


@dataclass
class Sink:
    """A raw TCP server that either echoes or swallows, and records how each connection ended."""

    echo: bool
    received: list[bytearray] = field(default_factory=list)
    endings: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = bytearray()
        self.received.append(data)
        try:
            while chunk := await reader.read(65536):
                data += chunk
                if self.echo:
                    writer.write(chunk)
                    await writer.drain()
            self.endings.append("eof")
        except ConnectionResetError:
            self.endings.append("reset")
        finally:
            writer.close()
            self.ended.set()

    async def wait_endings(self, count: int) -> None:
        async with asyncio.timeout(LIMIT):
            while len(self.endings) < count:
                self.ended.clear()
                await self.ended.wait()


async def start_sink(echo: bool) -> tuple[Sink, asyncio.Server, int]:
    server_side = Sink(echo=echo)
    server = await asyncio.start_server(server_side.handle, "127.0.0.1", 0)
    return server_side, server, server.sockets[0].getsockname()[1]


async def read_until_end(reader: asyncio.StreamReader, limit: int | None = None) -> tuple[bytes, str]:
    """Everything the connection delivers, and how it ended ("eof", "reset" or "enough")."""
    data = bytearray()
    try:
        async with asyncio.timeout(LIMIT):
            while limit is None or len(data) < limit:
                chunk = await reader.read(65536)
                if not chunk:
                    return bytes(data), "eof"
                data += chunk
    except ConnectionResetError:
        return bytes(data), "reset"
    return bytes(data), "enough"


async def test_forwards_both_ways_faithfully_and_counts_bytes_without_a_plan() -> None:
    sink, server, port = await start_sink(echo=True)
    message = bytes(range(256)) * 400
    async with server, FaultProxy("127.0.0.1", port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(message)
        echoed, how = await read_until_end(reader, len(message))
        writer.close()
        await sink.wait_endings(1)
    assert (echoed, how) == (message, "enough")
    assert proxy.stats.connections == 1
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == len(message)
    assert proxy.stats.disconnects_forced == 0
    assert proxy.stats.faults == []


async def test_cut_forwards_exactly_the_drawn_bytes_then_closes_both_sides_with_a_fin() -> None:
    sink, server, port = await start_sink(echo=False)
    plan = FaultPlan(cut_after=(1000, 1000), weights={Fault.CUT: 1})
    async with server, FaultProxy("127.0.0.1", port, plan) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        # One write of 5,000 bytes: the cut lands inside it, as it lands inside a frame.
        writer.write(b"x" * 5000)
        _, client_end = await read_until_end(reader)
        await sink.wait_endings(1)
        writer.close()
    assert client_end == "eof"
    assert sink.endings == ["eof"]
    assert len(sink.received[0]) == 1000
    assert proxy.stats.faults == [FaultRecord(1, Fault.CUT, 1000)]
    assert proxy.stats.disconnects_forced == 1


async def test_reset_drops_both_sides_with_an_rst_and_no_fin() -> None:
    sink, server, port = await start_sink(echo=False)
    plan = FaultPlan(cut_after=(500, 500), weights={Fault.RESET: 1})
    async with server, FaultProxy("127.0.0.1", port, plan) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"y" * 2000)
        _, client_end = await read_until_end(reader)
        await sink.wait_endings(1)
        writer.close()
    assert client_end == "reset"
    assert sink.endings == ["reset"]
    assert len(sink.received[0]) <= 500
    assert proxy.stats.faults == [FaultRecord(1, Fault.RESET, 500)]


async def test_stall_holds_both_directions_then_delivers_every_byte_in_order() -> None:
    sink, server, port = await start_sink(echo=True)
    plan = FaultPlan(cut_after=(100, 100), weights={Fault.STALL: 1}, stall_for=(0.2, 0.2), max_faults=1)
    message = bytes(range(256)) * 4
    async with server, FaultProxy("127.0.0.1", port, plan) as proxy:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        started = loop.time()
        writer.write(message)
        echoed, _ = await read_until_end(reader, len(message))
        elapsed = loop.time() - started
        writer.close()
        await sink.wait_endings(1)
    assert echoed == message
    assert elapsed >= 0.2
    assert proxy.stats.stalls == 1
    assert proxy.stats.disconnects_forced == 0
    assert proxy.stats.faults == [FaultRecord(1, Fault.STALL, 100)]


async def run_sequential_connections(plan: FaultPlan, connections: int, size: int) -> list[FaultRecord]:
    """``connections`` echo round trips of ``size`` bytes, one after another, through a fresh proxy."""
    sink, server, port = await start_sink(echo=True)
    async with server, FaultProxy("127.0.0.1", port, plan) as proxy:
        for number in range(1, connections + 1):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"z" * size)
            await read_until_end(reader, size)
            writer.close()
            await sink.wait_endings(number)
    return proxy.stats.faults


async def test_the_same_seed_draws_the_same_faults_at_the_same_offsets() -> None:
    plan = FaultPlan(seed=7, cut_after=(100, 15_000), stall_for=(0.0, 0.01))
    first = await run_sequential_connections(plan, connections=6, size=10_000)
    second = await run_sequential_connections(plan, connections=6, size=10_000)
    other = await run_sequential_connections(
        FaultPlan(seed=8, cut_after=(100, 15_000), stall_for=(0.0, 0.01)), connections=6, size=10_000
    )
    assert first == second
    assert len(first) >= 3
    assert other != first


async def test_max_faults_bounds_injection_then_the_proxy_only_forwards() -> None:
    plan = FaultPlan(cut_after=(50, 50), weights={Fault.CUT: 1}, max_faults=3)
    faults = await run_sequential_connections(plan, connections=6, size=200)
    assert [record.connection for record in faults] == [1, 2, 3]


async def test_max_duration_bounds_injection_in_time() -> None:
    plan = FaultPlan(cut_after=(50, 50), weights={Fault.CUT: 1}, max_duration=0.0)
    assert await run_sequential_connections(plan, connections=2, size=200) == []


async def test_cut_all_breaks_every_live_connection_and_counts_each() -> None:
    sink, server, port = await start_sink(echo=True)
    async with server, FaultProxy("127.0.0.1", port) as proxy:
        clients = [await asyncio.open_connection("127.0.0.1", proxy.port) for _ in range(3)]
        for reader, writer in clients:
            writer.write(b"ping")
            assert await read_until_end(reader, 4) == (b"ping", "enough")
        assert proxy.active == 3
        assert proxy.cut_all(Fault.RESET) == 3
        ends = [await read_until_end(reader) for reader, _ in clients]
        await sink.wait_endings(3)
        for _, writer in clients:
            writer.close()
        await proxy.wait_disconnects(3)
    assert [how for _, how in ends] == ["reset"] * 3
    assert proxy.stats.disconnects_forced == 3
    assert proxy.active == 0


@dataclass
class Relayed:
    """One client connection through the proxy to a server that records what reaches it."""

    proxy: FaultProxy
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    received: bytearray


@contextlib.asynccontextmanager
async def relayed_connection() -> AsyncIterator[Relayed]:
    """A connection through the proxy, already shown to carry bytes (the server's b"seen")."""
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()
    received = bytearray()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(writer)
        while chunk := await reader.read(65536):
            received.extend(chunk)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server, FaultProxy("127.0.0.1", server.sockets[0].getsockname()[1]) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        async with asyncio.timeout(LIMIT):
            upstream = await accepted.get()
        upstream.write(b"seen")
        assert await read_until_end(reader, 4) == (b"seen", "enough")
        yield Relayed(proxy, reader, writer, upstream, received)


async def test_swallow_all_drops_what_either_side_sends_until_cut_all_breaks_the_connection() -> None:
    async with relayed_connection() as relayed:
        proxy, reader, writer, upstream = relayed.proxy, relayed.reader, relayed.writer, relayed.upstream
        assert proxy.swallow_all() == 1
        writer.write(b"lost up")
        upstream.write(b"lost down")
        async with asyncio.timeout(LIMIT):
            await proxy.wait_swallowed(up=7, down=9)
        assert proxy.cut_all(Fault.CUT) == 1
        assert await read_until_end(reader) == (b"", "eof")
        writer.close()
        upstream.close()
    assert relayed.received == b""
    assert (proxy.stats.swallowed_up, proxy.stats.swallowed_down) == (7, 9)
    assert (proxy.stats.bytes_up, proxy.stats.bytes_down) == (0, 4)


async def test_blackhole_all_drops_bytes_and_ends_both_ways_until_cut_all_breaks_the_connection() -> None:
    async with relayed_connection() as relayed:
        proxy, reader, writer, upstream = relayed.proxy, relayed.reader, relayed.writer, relayed.upstream
        assert proxy.blackhole_all() == 1
        upstream.write(b"lost down")
        async with asyncio.timeout(LIMIT):
            await proxy.wait_swallowed(down=9)
        # The server ends its side; the proxy reads the FIN and keeps it from the client.
        upstream.close()
        async with asyncio.timeout(LIMIT):
            await proxy.wait_withheld(1)
        # The client's side is still open as far as it can tell: what it sends is read and lost.
        writer.write(b"lost up")
        async with asyncio.timeout(LIMIT):
            await proxy.wait_swallowed(up=7)
        assert not reader.at_eof()
        assert proxy.active == 1
        assert proxy.cut_all(Fault.CUT) == 1
        assert await read_until_end(reader) == (b"", "eof")
        writer.close()
    assert relayed.received == b""
    assert (proxy.stats.swallowed_up, proxy.stats.swallowed_down) == (7, 9)
    assert (proxy.stats.bytes_up, proxy.stats.bytes_down) == (0, 4)
    assert proxy.stats.withheld_ends == 1


async def test_a_refused_upstream_closes_the_client_connection() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    async with FaultProxy("127.0.0.1", port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await read_until_end(reader) == (b"", "eof")
        writer.close()
    assert proxy.stats.connections == 1


async def test_stop_closes_the_listener_and_every_connection() -> None:
    _, server, port = await start_sink(echo=True)
    async with server:
        proxy = FaultProxy("127.0.0.1", port)
        await proxy.start()
        listening = proxy.port
        reader, writer = await asyncio.open_connection("127.0.0.1", listening)
        writer.write(b"a")
        await read_until_end(reader, 1)
        await proxy.stop()
        assert await read_until_end(reader) == (b"", "eof")
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", listening)


def test_only_loopback_is_allowed() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("192.0.2.1", 7878)
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("example.com", 7878)


async def test_listening_off_loopback_is_refused() -> None:
    proxy = FaultProxy("127.0.0.1", 7878)
    with pytest.raises(ValueError, match="loopback"):
        await proxy.start(host="0.0.0.0")


def test_a_plan_is_checked_when_built() -> None:
    with pytest.raises(ValueError, match="cut_after"):
        FaultPlan(cut_after=(0, 10))
    with pytest.raises(ValueError, match="weights"):
        FaultPlan(weights={Fault.CUT: 0})
    with pytest.raises(ValueError, match="bound"):
        FaultPlan(max_faults=-1)

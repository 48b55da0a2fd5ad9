"""Unix domain sockets (TCP framing over ``unix:///path``) and the in-process ``local://name`` transport."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.errors import LocalProtocolError
from aiorsocket.transports.local import LocalFrameTransport


class Echo(aiorsocket.RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        return Payload(b"echo:" + payload.data)

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        for i in range(int(payload.data)):
            yield Payload(bytes(64 * 1024) + b"%d" % i)


@pytest.fixture
def directory() -> Iterator[str]:
    # Unix socket paths are limited to ~100 bytes: pytest's tmp_path can be longer than that.
    with tempfile.TemporaryDirectory(prefix="ars-", dir="/tmp") as path:
        yield path


async def test_unix_socket_file_is_removed_when_the_server_closes(directory: str) -> None:
    path = os.path.join(directory, "rsocket.sock")
    async with aiorsocket.serve(Echo(), f"unix://{path}") as srv:
        assert srv.addresses == [path]
        assert srv.bound_uris == [f"unix://{path}"]
        async with aiorsocket.connect(f"unix://{path}") as rs:
            assert (await rs.request_response(Payload(b"hi"))).data == b"echo:hi"
        assert os.listdir(directory) == ["rsocket.sock"]
    assert os.listdir(directory) == []


async def test_a_stale_socket_file_from_a_dead_server_is_replaced(directory: str) -> None:
    path = os.path.join(directory, "rsocket.sock")
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(path)  # closed without unlinking, as a crashed server leaves it
    async with (
        aiorsocket.serve(Echo(), f"unix://{path}"),
        aiorsocket.connect(f"unix://{path}") as rs,
    ):
        assert (await rs.request_response(Payload(b"hi"))).data == b"echo:hi"


async def test_unix_server_has_no_port_to_report(directory: str) -> None:
    async with aiorsocket.serve(Echo(), f"unix://{directory}/s.sock") as srv:
        with pytest.raises(LocalProtocolError, match="listens on a port"):
            _ = srv.port


async def test_local_transport_needs_no_socket() -> None:
    async with (
        aiorsocket.serve(Echo(), "local://no-socket") as srv,
        aiorsocket.connect("local://no-socket") as rs,
    ):
        assert (await rs.request_response(Payload(b"hi"))).data == b"echo:hi"
        assert isinstance(rs.transport, LocalFrameTransport)
        assert rs.transport.get_extra_info("socket") is None
        assert rs.transport.get_extra_info("peername") == ("local", "no-socket", "server")
        assert srv.addresses == [("local", "no-socket")]


async def test_local_name_is_taken_until_the_server_closes() -> None:
    async with aiorsocket.serve(Echo(), "local://taken"):
        with pytest.raises(LocalProtocolError, match="already being served"):
            await aiorsocket.serve(Echo(), "local://taken")
    async with aiorsocket.serve(Echo(), "local://taken"):
        pass
    with pytest.raises(ConnectionRefusedError, match="nothing serves local://taken"):
        await aiorsocket.connect("local://taken")


async def test_local_transport_applies_backpressure_like_a_socket() -> None:
    """A consumer that does not read makes the producer wait: bytes in flight stay bounded."""
    async with aiorsocket.serve(Echo(), "local://slow") as srv, aiorsocket.connect("local://slow") as rs:
        assert (await rs.request_response(Payload(b"hi"))).data == b"echo:hi"
        (server_side,) = srv.connections
        rs.transport.pause_reading()
        stream = rs.request_stream(Payload(b"200"), limit_rate=None)
        first = asyncio.ensure_future(anext(stream))
        transport = server_side.transport
        assert isinstance(transport, LocalFrameTransport)
        for _ in range(100):  # bounded: until the producer is held back
            if transport.write_paused:
                break
            await asyncio.sleep(0)
        assert transport.write_paused
        writable = asyncio.ensure_future(transport.wait_writable())
        for _ in range(10):
            await asyncio.sleep(0)
        assert not writable.done()
        assert not first.done()
        rs.transport.resume_reading()
        async with asyncio.timeout(5):
            await writable
            assert (await first).data.endswith(b"0")
        items = 1 + len([item async for item in stream])
        assert items == 200

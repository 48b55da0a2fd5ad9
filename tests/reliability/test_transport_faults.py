"""A peer that disappears mid-stream, on every transport.

* TCP, TLS, Unix: the socket is reset (SO_LINGER 0, then closed: an RST, no FIN, no TLS close_notify).
* WebSocket: the TCP connection drops with no WebSocket close frame.
* QUIC: CONNECTION_CLOSE with an error (QUIC's reset); in-process: the other end aborts.

Every stream open on that connection must fail promptly with a connection error, every task and
buffer that belonged to the connection must go (task counts, and the RSocket itself collected),
and the server must go on serving its other clients. A peer that goes silent instead (a half-open
connection) is found by keepalive (U-2).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
from collections.abc import AsyncIterator

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.errors import ConnectionError, ConnectionLostError
from aiorsocket.session import RSocket
from aiorsocket.transports.base import FrameTransport
from support.certs import PKI, make_pki
from support.liveness import survivor
from support.transports import TRANSPORTS, endpoint_for

#: "Promptly": a dead connection is noticed within this many seconds, not at a keepalive timeout.
PROMPT = 2.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


class Endless(aiorsocket.RequestHandler):
    """Streams and channels that never end on their own, and a request that never answers."""

    def __init__(self) -> None:
        self.running = 0
        self.cancelled = 0
        self.changed = asyncio.Event()

    def _started(self) -> None:
        self.running += 1
        self.changed.set()

    def _ended(self) -> None:
        self.running -= 1
        self.cancelled += 1
        self.changed.set()

    async def request_response(self, payload: Payload) -> Payload:
        if payload.data != b"hang":
            return Payload(b"echo:" + payload.data)
        self._started()
        try:
            await asyncio.Event().wait()
        finally:
            self._ended()
        raise AssertionError("unreachable")

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        self._started()
        try:
            i = 0
            while True:  # bounded by credit: the requester's request-n
                yield Payload(b"%d" % i)
                i += 1
        finally:
            self._ended()

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        self._started()
        try:
            async for item in inbound:
                yield item
        finally:
            self._ended()

    async def wait_running(self, count: int) -> None:
        while self.running != count:
            self.changed.clear()
            await self.changed.wait()


def vanish(transport: FrameTransport) -> None:
    """Make the end of ``transport`` disappear the hard way (see the module docstring)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def settle(baseline: int) -> None:
    """Let cancelled tasks run their cleanup; bounded in loop passes, never in wall time."""
    for _ in range(200):
        if len(asyncio.all_tasks()) <= baseline:
            return
        await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    raise AssertionError(f"{len(asyncio.all_tasks())} tasks left, baseline {baseline}: {pending}")


async def open_everything(rs: aiorsocket.RSocket) -> list[asyncio.Task[object]]:
    """A stream, a channel and a request in flight; each task ends only if the connection does."""

    async def drain_stream() -> object:
        async for _ in rs.request_stream(Payload(b"forever"), limit_rate=4):
            await asyncio.sleep(0)
        return "completed"

    async def drain_channel() -> object:
        async def outbound() -> AsyncIterator[Payload]:
            while True:
                yield Payload(b"tick")

        async for _ in rs.request_channel(Payload(b"first"), outbound(), limit_rate=4):
            await asyncio.sleep(0)
        return "completed"

    return [
        asyncio.ensure_future(drain_stream()),
        asyncio.ensure_future(drain_channel()),
        asyncio.ensure_future(rs.request_response(Payload(b"hang"))),
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_server_side_reset_fails_every_open_stream_promptly(pki: PKI, transport: str) -> None:
    handler = Endless()
    with endpoint_for(transport, pki) as endpoint:
        async with aiorsocket.serve(handler, endpoint.server_uri, ssl=endpoint.server_ssl) as srv:
            uri = srv.bound_uris[0]
            async with aiorsocket.connect(uri, ssl=endpoint.client_ssl) as bystander:
                assert (await bystander.request_response(Payload(b"a"))).data == b"echo:a"
                (bystander_side,) = srv.connections
                others = await open_everything(bystander)
                await handler.wait_running(3)
                baseline = len(asyncio.all_tasks())

                victim = await aiorsocket.connect(uri, ssl=endpoint.client_ssl)
                assert (await victim.request_response(Payload(b"b"))).data == b"echo:b"
                (victim_side,) = srv.connections - {bystander_side}
                doomed = await open_everything(victim)
                await handler.wait_running(6)

                vanish(victim_side.transport)
                async with asyncio.timeout(PROMPT):
                    results = await asyncio.gather(*doomed, return_exceptions=True)
                assert all(isinstance(r, ConnectionLostError) for r in results), results
                async with asyncio.timeout(PROMPT):
                    await victim.wait_closed()
                    await handler.wait_running(3)  # the server-side handlers were cancelled too
                assert victim_side not in srv.connections

                await settle(baseline)
                victim_id = id(victim_side)
                del victim_side, victim, doomed, results
                left = survivor(victim_id, RSocket)
                assert left is None, gc.get_referrers(left)

                # The other connection never noticed; new ones are served.
                assert not any(task.done() for task in others)
                assert (await bystander.request_response(Payload(b"c"))).data == b"echo:c"
                async with aiorsocket.connect(uri, ssl=endpoint.client_ssl) as newcomer:
                    assert (await newcomer.request_response(Payload(b"d"))).data == b"echo:d"
                for task in others:
                    task.cancel()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_client_vanishing_mid_stream_frees_its_server_side(pki: PKI, transport: str) -> None:
    handler = Endless()
    with endpoint_for(transport, pki) as endpoint:
        async with aiorsocket.serve(handler, endpoint.server_uri, ssl=endpoint.server_ssl) as srv:
            uri = srv.bound_uris[0]
            baseline = len(asyncio.all_tasks())
            client = await aiorsocket.connect(uri, ssl=endpoint.client_ssl)
            assert (await client.request_response(Payload(b"a"))).data == b"echo:a"
            (server_side,) = srv.connections
            tasks = await open_everything(client)
            await handler.wait_running(3)

            vanish(client.transport)
            async with asyncio.timeout(PROMPT):
                await server_side.wait_closed()
                await handler.wait_running(0)
                await asyncio.gather(*tasks, return_exceptions=True)
            assert handler.cancelled == 3
            assert srv.connections == set()

            await settle(baseline)
            server_id = id(server_side)
            del server_side
            left = survivor(server_id, RSocket)
            assert left is None, gc.get_referrers(left)

            async with aiorsocket.connect(uri, ssl=endpoint.client_ssl) as newcomer:
                assert (await newcomer.request_response(Payload(b"b"))).data == b"echo:b"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_u2_a_silent_server_is_found_by_keepalive(pki: PKI, transport: str) -> None:
    """U-2: a half-open connection (the server stops reading and answering) fails by keepalive."""
    handler = Endless()
    with endpoint_for(transport, pki) as endpoint:
        async with aiorsocket.serve(handler, endpoint.server_uri, ssl=endpoint.server_ssl) as srv:
            client = await aiorsocket.connect(
                srv.bound_uris[0], ssl=endpoint.client_ssl, keepalive_interval=0.05, max_lifetime=0.3
            )
            assert (await client.request_response(Payload(b"a"))).data == b"echo:a"
            (server_side,) = srv.connections
            tasks = await open_everything(client)
            await handler.wait_running(3)
            server_side.transport.pause_reading()
            async with asyncio.timeout(PROMPT):
                results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, ConnectionError) for r in results), results
            assert "keepalive" in str(results[0])
            assert client.is_closed
            async with asyncio.timeout(PROMPT):
                await client.aclose()  # and the transport let go of its socket

"""Session resumption between our client and server, and the exact answers of the resume
handshake to raw peers (checklist §3.14, RE-1..RE-12, KA-5, SU-13).

Links are broken with the fault proxy's ``cut_all`` at chosen points; waits are on awaited
events (stream items, frame-logger callbacks, closed futures), never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import aiorsocket
from aiorsocket import (
    ConnectionLostError,
    ErrorCode,
    FixedRateLease,
    LeaseConfig,
    Payload,
    ReconnectPolicy,
    RejectedSetupError,
    RequestHandler,
    ResumeConfig,
    ResumeState,
    RSocket,
)
from aiorsocket.frames import (
    ErrorFrame,
    KeepaliveFrame,
    LeaseFrame,
    PayloadFrame,
    RequestResponseFrame,
    ResumeFrame,
    ResumeOkFrame,
    SetupFrame,
    decode_frame,
)
from aiorsocket.handler import ConnectionSetup
from reliability.fault_proxy import Fault, FaultProxy
from support.polling import wait_for
from support.raw_peer import RawPeer

TOKEN = b"resume-token-0001"
RawOpener = Callable[[], Awaitable[RawPeer]]


class Echo(RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        return payload

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        for i in range(int(payload.data)):
            yield Payload(b"%d" % i)

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        async for item in inbound:  # the first payload included
            yield item


@pytest.fixture
async def server() -> AsyncIterator[aiorsocket.Server]:
    async with aiorsocket.serve(Echo(), "tcp://127.0.0.1:0", resume=ResumeConfig(session_lifetime=30)) as srv:
        yield srv


@pytest.fixture
async def proxy(server: aiorsocket.Server) -> AsyncIterator[FaultProxy]:
    fault_proxy = FaultProxy("127.0.0.1", server.port)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.stop()


@pytest.fixture
async def raw(server: aiorsocket.Server) -> AsyncIterator[RawOpener]:
    """Opens raw connections to the server; all are closed at the end."""
    peers: list[RawPeer] = []

    async def open_peer() -> RawPeer:
        peers.append(await RawPeer.open(server.port))
        return peers[-1]

    yield open_peer
    for peer in peers:
        peer.close()
        await peer.writer.wait_closed()


def only(server: aiorsocket.Server) -> RSocket:
    (rsocket,) = server.connections
    return rsocket


# --- our client and server through cuts ------------------------------------------------------------


async def test_re7_a_stream_carries_on_across_cuts_with_nothing_lost_or_repeated(
    server: aiorsocket.Server, proxy: FaultProxy
) -> None:
    states: list[ResumeState] = []
    async with aiorsocket.connect(proxy.uri, resume=ResumeConfig(on_state=states.append)) as rs:
        received = []
        async for item in rs.request_stream(Payload(b"5000"), limit_rate=64):
            received.append(int(item.data))
            if len(received) % 1000 == 0:
                assert proxy.cut_all(Fault.RESET if len(received) % 2000 else Fault.CUT) == 1
        assert received == list(range(5000))
        assert await rs.request_response(Payload(b"after")) == Payload(b"after")
        stats = rs.resume_stats
        assert stats is not None
        assert (stats.disconnects, stats.resumes, stats.evicted_bytes) == (5, 5, 0)
        assert states[:3] == [ResumeState.DISCONNECTED, ResumeState.RESUMING, ResumeState.CONNECTED]
        server_stats = only(server).resume_stats
        assert server_stats is not None
        assert server_stats.resumes == 5
        # Each side's implied position is exactly what the other sent (RE-2).
        assert server_stats.implied_position == stats.position
        assert stats.implied_position == server_stats.position


async def test_re7_a_channel_resumes_in_both_directions(proxy: FaultProxy) -> None:
    async with aiorsocket.connect(proxy.uri, resume=ResumeConfig()) as rs:
        outbound: asyncio.Queue[Payload | None] = asyncio.Queue()

        async def items() -> AsyncIterator[Payload]:
            while (item := await outbound.get()) is not None:
                yield item

        channel = rs.request_channel(Payload(b"first"), items(), limit_rate=8)
        received = [(await anext(channel)).data]
        for i in range(300):
            await outbound.put(Payload(b"%d" % i))
            received.append((await anext(channel)).data)
            if i % 60 == 59:
                proxy.cut_all()
        await outbound.put(None)
        assert [item async for item in channel] == []
        assert received == [b"first", *(b"%d" % i for i in range(300))]


async def test_re7_requests_from_the_server_to_the_client_survive_a_cut(proxy: FaultProxy) -> None:
    """The client is a responder too: the server's stream to it resumes like any other."""

    async def acceptor(setup: ConnectionSetup, requester: RSocket) -> RequestHandler:
        collected.set_result(requester)
        return Echo()

    collected: asyncio.Future[RSocket] = asyncio.get_running_loop().create_future()
    async with aiorsocket.serve(acceptor, "tcp://127.0.0.1:0", resume=ResumeConfig()) as own:
        cutter = FaultProxy("127.0.0.1", own.port)
        await cutter.start()
        try:
            async with aiorsocket.connect(cutter.uri, handler=Echo(), resume=ResumeConfig()) as rs:
                await rs.request_response(Payload(b"hello"))
                to_client = await collected
                received = []
                async for item in to_client.request_stream(Payload(b"1000"), limit_rate=32):
                    received.append(int(item.data))
                    if len(received) in (250, 500, 750):
                        cutter.cut_all()
                assert received == list(range(1000))
        finally:
            await cutter.stop()


# --- keepalive positions (KA-5, RE-3) --------------------------------------------------------------


async def test_ka5_keepalive_positions_release_the_peers_retained_frames(server: aiorsocket.Server) -> None:
    acknowledged: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def log(direction: str, raw_frame: bytes) -> None:
        frame = decode_frame(raw_frame)
        received = direction == "receive" and isinstance(frame, KeepaliveFrame)
        if received and frame.last_received_position and not acknowledged.done():
            acknowledged.set_result(frame.last_received_position)

    async with aiorsocket.connect(
        f"tcp://127.0.0.1:{server.port}", resume=ResumeConfig(), keepalive_interval=0.05, frame_logger=log
    ) as rs:
        assert await rs.request_response(Payload(b"x" * 100)) == Payload(b"x" * 100)
        stats = rs.resume_stats
        assert stats is not None
        assert stats.retained_bytes == stats.position > 0  # kept until the server says it has them
        async with asyncio.timeout(10):
            position = await acknowledged
        assert position == stats.position
        after = rs.resume_stats
        assert after is not None
        assert (after.retained_bytes, after.peak_retained_bytes) == (0, stats.position)


async def test_re3_a_fast_stream_is_acknowledged_by_volume_between_keepalives() -> None:
    """With keepalives 60 s apart, the client still reports its position every quarter of the
    cap, so the server's store never fills and nothing is evicted."""
    cap = 256 * 1024
    resume = ResumeConfig(retained_bytes_cap=cap)
    async with (
        aiorsocket.serve(Echo(), "tcp://127.0.0.1:0", resume=resume) as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}", resume=resume, keepalive_interval=60) as rs,
    ):
        count = 0
        async for _ in rs.request_stream(Payload(b"200000"), limit_rate=1024):
            count += 1
        assert count == 200_000
        stats = only(srv).resume_stats
        assert stats is not None
        assert stats.position > 4 * cap
        assert stats.evicted_bytes == 0
        assert stats.peak_retained_bytes <= cap


# --- the handshake's exact answers -----------------------------------------------------------------


async def connected_session(server: aiorsocket.Server) -> RSocket:
    rs = await aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", resume=ResumeConfig(token=TOKEN))
    assert await rs.request_response(Payload(b"ok")) == Payload(b"ok")
    return rs


async def test_re5_an_unknown_token_gets_rejected_resume(server: aiorsocket.Server, raw: RawOpener) -> None:
    peer = await raw()
    await peer.send(ResumeFrame(b"nobody", 0, 0))
    assert await peer.next_frame() == ErrorFrame(0, ErrorCode.REJECTED_RESUME, b"unknown resume token (RE-5)")
    await peer.assert_closed()


async def test_re5_a_server_without_resumption_rejects_resume() -> None:
    async with aiorsocket.serve(Echo(), "tcp://127.0.0.1:0") as plain:
        peer = await RawPeer.open(plain.port)
        try:
            await peer.send(ResumeFrame(TOKEN, 0, 0))
            assert await peer.next_frame() == ErrorFrame(
                0, ErrorCode.REJECTED_RESUME, b"resumption is not supported (RE-5)"
            )
        finally:
            peer.close()
            await peer.writer.wait_closed()


async def test_su6_a_server_without_resumption_refuses_a_resumable_client() -> None:
    async with (
        aiorsocket.serve(Echo(), "tcp://127.0.0.1:0") as plain,
        aiorsocket.connect(f"tcp://127.0.0.1:{plain.port}", resume=ResumeConfig()) as rs,
    ):
        with pytest.raises(RejectedSetupError, match=r"resumption is not supported \(SU-6\)"):
            await rs.request_response(Payload(b"x"))


async def test_su13_a_token_already_in_use_is_refused(server: aiorsocket.Server, raw: RawOpener) -> None:
    rs = await connected_session(server)
    try:
        peer = await raw()
        await peer.send(SetupFrame(60_000, 120_000, "a", "b", resume_token=TOKEN))
        assert await peer.next_frame() == ErrorFrame(
            0, ErrorCode.REJECTED_SETUP, b"this resume token is already in use (SU-13)"
        )
        await peer.assert_closed()
        assert await rs.request_response(Payload(b"still")) == Payload(b"still")
    finally:
        await rs.aclose()


async def test_re4_rsocket_js_swapped_resume_version_is_accepted(
    server: aiorsocket.Server, raw: RawOpener
) -> None:
    """rsocket-js 1.0.0-alpha.3 sends RESUME as version 0.1 (peers.md): we take it as 1.0."""
    rs = await connected_session(server)
    try:
        stats = rs.resume_stats
        assert stats is not None
        peer = await raw()
        await peer.send(ResumeFrame(TOKEN, stats.implied_position, 0, major=0, minor=1))
        assert await peer.next_frame() == ResumeOkFrame(stats.position)
        # The session now runs on the raw link: it answers a request there.
        await peer.send(RequestResponseFrame(stats.position and 3, b"on the new link"))
        assert await peer.next_frame() == PayloadFrame(3, b"on the new link", None, False, True, True)
    finally:
        rs.close()


async def test_re4_an_unsupported_resume_version_is_rejected(
    server: aiorsocket.Server, raw: RawOpener
) -> None:
    rs = await connected_session(server)
    try:
        peer = await raw()
        await peer.send(ResumeFrame(TOKEN, 0, 0, major=2, minor=0))
        assert await peer.next_frame() == ErrorFrame(
            0, ErrorCode.REJECTED_RESUME, b"unsupported protocol version 2.0 in RESUME (RE-4)"
        )
        assert await rs.request_response(Payload(b"untouched")) == Payload(b"untouched")
    finally:
        await rs.aclose()


async def test_re6_a_resume_from_an_impossible_position_is_refused_and_ends_the_session(
    server: aiorsocket.Server,
    raw: RawOpener,
) -> None:
    rs = await connected_session(server)
    stats = rs.resume_stats
    assert stats is not None
    peer = await raw()
    await peer.send(ResumeFrame(TOKEN, stats.implied_position + 1000, 0))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert frame.error_code == ErrorCode.REJECTED_RESUME
    assert "past the" in frame.message
    assert "(RE-6)" in frame.message
    async with asyncio.timeout(10):
        await rs.wait_closed()
    assert server.resumable_sessions == 0


async def test_re10_resume_on_an_established_connection_gets_connection_error(
    server: aiorsocket.Server,
    raw: RawOpener,
) -> None:
    peer = await raw()
    await peer.send(SetupFrame(60_000, 120_000, "a", "b", resume_token=b"t"), ResumeFrame(b"t", 0, 0))
    frame = await peer.next_frame()
    assert frame == ErrorFrame(
        0, ErrorCode.CONNECTION_ERROR, b"RESUME after the connection was set up (RE-10)"
    )


# --- lifetimes and endings -------------------------------------------------------------------------


async def test_re11_a_detached_session_ends_after_its_lifetime_on_both_sides() -> None:
    async with aiorsocket.serve(
        Echo(), "tcp://127.0.0.1:0", resume=ResumeConfig(session_lifetime=0.3)
    ) as srv:
        cutter = FaultProxy("127.0.0.1", srv.port)
        await cutter.start()
        rs = await aiorsocket.connect(cutter.uri, resume=ResumeConfig(session_lifetime=0.5))
        await rs.request_response(Payload(b"x"))
        server_side = only(srv)
        await cutter.stop()  # no new link can be made: the proxy no longer listens
        cutter.cut_all()
        async with asyncio.timeout(10):
            await server_side.wait_closed()
            await rs.wait_closed()
        assert "no RESUME within the session lifetime of 0.3 s" in str(server_side.close_error)
        assert isinstance(rs.close_error, ConnectionLostError)
        assert "could not resume within the session lifetime of 0.5 s" in str(rs.close_error)
        assert srv.resumable_sessions == 0


async def test_re12_a_closed_session_frees_its_token(server: aiorsocket.Server) -> None:
    rs = await connected_session(server)
    assert server.resumable_sessions == 1
    await rs.aclose()
    await wait_for(lambda: server.resumable_sessions == 0, "the server to free the session", polls=500)
    again = await connected_session(server)  # the same token is usable for a new session
    await again.aclose()


async def test_su6_a_plain_client_is_served_normally_by_a_resumable_server(server: aiorsocket.Server) -> None:
    async with aiorsocket.connect(f"tcp://127.0.0.1:{server.port}") as rs:
        assert await rs.request_response(Payload(b"plain")) == Payload(b"plain")
        assert rs.resume_stats is None
        assert only(server).resume_stats is None
        assert server.resumable_sessions == 0


async def test_re11_shutting_down_ends_detached_sessions_without_waiting_out_the_grace() -> None:
    """A session waiting for its client to resume has streams that cannot finish: a graceful
    shutdown ends it at once instead of holding the whole grace period for it."""
    srv = await aiorsocket.serve(Echo(), "tcp://127.0.0.1:0", resume=ResumeConfig(session_lifetime=60))
    cutter = FaultProxy("127.0.0.1", srv.port)
    await cutter.start()
    rs = await aiorsocket.connect(cutter.uri, resume=ResumeConfig(session_lifetime=60))
    stream = rs.request_stream(Payload(b"1000000"), limit_rate=8)
    await anext(stream)
    server_side = only(srv)
    await cutter.stop()
    cutter.cut_all()

    def detached() -> bool:
        now = server_side.resume_stats
        return now is not None and now.state is ResumeState.DISCONNECTED

    await wait_for(detached, "the server to notice the cut", polls=500)
    async with asyncio.timeout(10):
        await srv.close(grace=60)  # would take 60 s if the detached session were waited for
    assert server_side.is_closed
    rs.close()
    await rs.wait_closed()


async def test_le7_a_resumed_session_gets_a_fresh_lease_before_its_next_request() -> None:
    """Leases never survive resumption: the server grants afresh at once after RESUME_OK, and
    the client's next request waits for that LEASE instead of spending the old one (LE-7)."""
    leases: list[int] = []

    def log(direction: str, raw_frame: bytes) -> None:
        frame = decode_frame(raw_frame)
        if direction == "receive" and isinstance(frame, LeaseFrame):
            leases.append(frame.number_of_requests)

    # One grant an hour: any LEASE after the first comes from the resume.
    strategy = FixedRateLease(requests=50, period=3600)
    async with aiorsocket.serve(Echo(), "tcp://127.0.0.1:0", resume=ResumeConfig(), lease=strategy) as srv:
        cutter = FaultProxy("127.0.0.1", srv.port)
        await cutter.start()
        try:
            async with aiorsocket.connect(
                cutter.uri, resume=ResumeConfig(), lease=LeaseConfig(), frame_logger=log
            ) as rs:
                assert await rs.request_response(Payload(b"one")) == Payload(b"one")
                lease = rs.lease
                assert lease is not None
                assert lease.remaining == 49
                cutter.cut_all()
                async with asyncio.timeout(10):
                    fresh = await rs.wait_lease()
                assert fresh.remaining == 50
                assert await rs.request_response(Payload(b"two")) == Payload(b"two")
                lease = rs.lease
                assert lease is not None
                assert lease.remaining == 49
                assert leases == [50, 50]
        finally:
            await cutter.stop()


class SilentServer:
    """Accepts connections, reads everything, answers nothing: a RESUME here never gets RESUME_OK."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.connections.put((reader, writer))


async def test_re4_closing_during_the_resume_handshake_closes_the_new_link() -> None:
    silent = SilentServer()
    listener = await asyncio.start_server(silent._accept, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    states: list[ResumeState] = []
    resume = ResumeConfig(
        on_state=states.append, backoff=ReconnectPolicy(initial_backoff=0, connect_timeout=30)
    )
    try:
        rs = await aiorsocket.connect(f"tcp://127.0.0.1:{port}", resume=resume)
        async with asyncio.timeout(10):
            _, first = await silent.connections.get()
            first.close()  # the first link drops: the client comes back with RESUME
            second_reader, second = await silent.connections.get()
            length = int.from_bytes(await second_reader.readexactly(3), "big")
            assert isinstance(decode_frame(await second_reader.readexactly(length)), ResumeFrame)
            assert states[-1] is ResumeState.RESUMING
            await rs.aclose()
            assert await second_reader.read() == b""  # the half-made link went with the session
        second.close()
        assert states[-1] is ResumeState.CLOSED
    finally:
        listener.close()
        await listener.wait_closed()


async def test_re4_the_backoffs_max_attempts_bounds_the_resume_attempts() -> None:
    async with aiorsocket.serve(Echo(), "tcp://127.0.0.1:0", resume=ResumeConfig()) as srv:
        cutter = FaultProxy("127.0.0.1", srv.port)
        await cutter.start()
        policy = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.01, max_attempts=2)
        rs = await aiorsocket.connect(cutter.uri, resume=ResumeConfig(backoff=policy))
        await rs.request_response(Payload(b"x"))
        await cutter.stop()
        cutter.cut_all()
        async with asyncio.timeout(10):
            await rs.wait_closed()
        assert isinstance(rs.close_error, ConnectionLostError)
        assert "(2 attempts; last: connect failed: ConnectionRefusedError" in str(rs.close_error)

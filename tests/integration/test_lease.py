"""Leasing between our client and our server over loopback TCP (checklist §3.13, SU-9).

Grants are driven by the tests wherever the timing matters (:class:`ManualLease` hands each
connection's :class:`LeaseGranter` to the test), and a LEASE is awaited with
``RSocket.wait_lease`` rather than slept for.  Only TTL expiry waits for time to pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest

import aiorsocket
from aiorsocket import (
    ConnectionSetup,
    FixedRateLease,
    InFlightLease,
    LeaseConfig,
    LeaseGranter,
    LeaseInfo,
    LeaseStrategy,
    MissingLeaseError,
    Payload,
    RequestHandler,
    RSocket,
    Server,
)
from aiorsocket.errors import ConnectionLostError, ErrorCode, LocalProtocolError, UnsupportedSetupError
from aiorsocket.frames import (
    ErrorFrame,
    Frame,
    LeaseFrame,
    PayloadFrame,
    RequestResponseFrame,
    SetupFrame,
    decode_frame,
    encode_frame,
)
from support.handlers import RecordingEcho

TTL = 60.0
"""Long enough never to lapse during a test that is not about expiry."""


def granting(requests: int) -> FixedRateLease:
    """One lease of ``requests`` for the whole test: the next comes only after TTL."""
    return FixedRateLease(requests=requests, period=TTL, ttl=TTL)


class ManualLease(LeaseStrategy):
    """Grants nothing by itself: each connection's granter goes to the test, which grants."""

    def __init__(self) -> None:
        self.granters: asyncio.Queue[LeaseGranter] = asyncio.Queue()

    async def run(self, granter: LeaseGranter) -> None:
        self.granters.put_nowait(granter)
        await asyncio.get_running_loop().create_future()  # until the connection ends


class Recorder(RecordingEcho):
    """Echoes, records every request, and holds request/responses whose data has a gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[bytes, asyncio.Event] = {}
        self.entered: asyncio.Queue[bytes] = asyncio.Queue()

    async def request_response(self, payload: Payload) -> Payload:
        gate = self.gates.get(payload.data)
        if gate is not None:
            self.seen.append(payload.data)
            self.entered.put_nowait(payload.data)
            await gate.wait()
            return Payload(b"echo:" + payload.data)
        return await super().request_response(payload)


class Served:
    """A server of ours, the handler behind it, and each connection's server side."""

    def __init__(self, server: Server, handler: Recorder, accepted: asyncio.Queue[RSocket]) -> None:
        self.server = server
        self.handler = handler
        self.accepted = accepted

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.server.port}"


@contextlib.asynccontextmanager
async def serving(lease: LeaseConfig | LeaseStrategy | None) -> AsyncIterator[Served]:
    handler = Recorder()
    accepted: asyncio.Queue[RSocket] = asyncio.Queue()

    async def acceptor(setup: ConnectionSetup, requester: RSocket) -> RequestHandler:
        accepted.put_nowait(requester)
        return handler

    async with aiorsocket.serve(acceptor, "tcp://127.0.0.1:0", lease=lease) as server:
        yield Served(server, handler, accepted)


async def sleep_past(expires_at: float) -> None:
    """Wait until a lease has expired: time passing is the one thing that cannot be awaited."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, expires_at - loop.time()) + 0.05)


# --------------------------------------------------------------------------- SU-9: negotiation


async def test_su9_request_waits_for_the_first_lease_then_goes() -> None:
    strategy = ManualLease()
    async with serving(strategy) as served, aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs:
        assert rs.lease is None
        pending = asyncio.ensure_future(rs.request_response(Payload(b"a")))
        granter = await strategy.granters.get()
        assert not pending.done()  # nothing granted yet: it cannot have gone
        granter.grant(1, TTL)
        assert await pending == Payload(b"echo:a")
        assert served.handler.seen == [b"a"]


async def test_su9_request_fails_when_no_lease_comes_in_time() -> None:
    async with (
        serving(LeaseConfig()) as served,
        aiorsocket.connect(served.uri, lease=LeaseConfig(first_lease_timeout=0.2)) as rs,
    ):
        with pytest.raises(MissingLeaseError, match=r"^lease missing: the peer sent no LEASE within 0\.2 s"):
            await rs.request_response(Payload(b"a"))
        with pytest.raises(MissingLeaseError):
            await rs.fire_and_forget(Payload(b"f"))
        assert served.handler.seen == []


async def test_su9_server_without_leasing_refuses_a_client_that_asks_for_it() -> None:
    async with serving(None) as served, aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs:
        with pytest.raises(UnsupportedSetupError):
            await rs.request_response(Payload(b"a"))


async def test_su9_leasing_server_serves_a_client_that_did_not_ask_without_leases() -> None:
    """Our choice (see the sans-IO test of the same name): no L in SETUP, no leases."""
    async with serving(granting(1)) as served, aiorsocket.connect(served.uri) as rs:
        for body in (b"a", b"b", b"c"):
            assert await rs.request_response(Payload(body)) == Payload(b"echo:" + body)
        assert rs.lease is None
        assert (await served.accepted.get()).granted_lease is None


async def test_su9_stream_waits_for_the_first_lease() -> None:
    strategy = ManualLease()
    async with serving(strategy) as served, aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs:
        stream = rs.request_stream(Payload(b"3"))
        assert stream.stream_id == 0  # not sent yet
        (await strategy.granters.get()).grant(1, TTL)
        assert [item.data async for item in stream] == [b"0", b"1", b"2"]
        assert stream.stream_id == 1


async def test_su9_channel_waits_for_the_first_lease() -> None:
    strategy = ManualLease()

    async def outbound() -> AsyncIterator[Payload]:
        yield Payload(b"x")
        yield Payload(b"y")

    async with serving(strategy) as served, aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs:
        channel = rs.request_channel(Payload(b"first"), outbound())
        (await strategy.granters.get()).grant(1, TTL)
        assert [item.data async for item in channel] == [b"first", b"x", b"y"]
        assert served.handler.seen == [b"first"]


async def test_su9_stream_fails_when_no_lease_comes_in_time() -> None:
    async with (
        serving(LeaseConfig()) as served,
        aiorsocket.connect(served.uri, lease=LeaseConfig(first_lease_timeout=0.2)) as rs,
    ):
        stream = rs.request_stream(Payload(b"3"))
        with pytest.raises(MissingLeaseError, match=r"^lease missing"):
            await anext(stream)
        assert served.handler.seen == []


async def test_su9_stream_cancelled_while_waiting_for_the_first_lease_is_never_sent() -> None:
    strategy = ManualLease()
    async with serving(strategy) as served, aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs:
        stream = rs.request_stream(Payload(b"3"))
        stream.cancel()
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        (await strategy.granters.get()).grant(1, TTL)
        assert await rs.request_response(Payload(b"a")) == Payload(b"echo:a")
        assert served.handler.seen == [b"a"]
        assert rs.lease is not None
        assert rs.lease.remaining == 0


async def test_su9_connection_loss_fails_requests_waiting_for_the_first_lease() -> None:
    strategy = ManualLease()
    async with serving(strategy) as served, aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs:
        pending = asyncio.ensure_future(rs.request_response(Payload(b"a")))
        stream = rs.request_stream(Payload(b"3"))
        await strategy.granters.get()
        (await served.accepted.get()).close()
        with pytest.raises(ConnectionLostError):
            await pending
        with pytest.raises(ConnectionLostError):
            await anext(stream)


# --------------------------------------------------------------------------- LE-2..LE-4: honouring


async def test_le4_request_beyond_the_lease_fails_fast_unsent() -> None:
    async with (
        serving(granting(2)) as served,
        aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs,
    ):
        await rs.request_response(Payload(b"1"))
        await rs.request_response(Payload(b"2"))
        with pytest.raises(MissingLeaseError, match=r"^lease exhausted: the peer granted 2 ") as caught:
            await rs.request_response(Payload(b"3"))
        assert caught.value.code == ErrorCode.REJECTED
        with pytest.raises(MissingLeaseError):
            await rs.fire_and_forget(Payload(b"3"))
        with pytest.raises(MissingLeaseError):  # raised by the call itself: a lease has arrived
            rs.request_stream(Payload(b"3"))
        lease = rs.lease
        assert lease is not None
        assert (lease.allowed, lease.remaining, lease.ttl, lease.metadata) == (2, 0, TTL, None)
        assert served.handler.seen == [b"1", b"2"]


async def test_le2_expired_lease_fails_fast() -> None:
    strategy = ManualLease()
    async with serving(strategy) as served, aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs:
        (await strategy.granters.get()).grant(5, 0.2)
        assert await rs.request_response(Payload(b"a")) == Payload(b"echo:a")
        lease = rs.lease
        assert lease is not None
        assert lease.remaining == 4
        await sleep_past(lease.expires_at)
        assert rs.lease == LeaseInfo(5, 0, 0.2, lease.expires_at, None)
        with pytest.raises(MissingLeaseError, match=r"^lease expired"):
            await rs.request_response(Payload(b"b"))
        assert served.handler.seen == [b"a"]


async def test_le3_a_new_lease_replaces_the_old_one() -> None:
    strategy = ManualLease()
    async with serving(strategy) as served, aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs:
        granter = await strategy.granters.get()
        granter.grant(3, TTL, b"first")
        assert (await rs.wait_lease()).metadata == b"first"
        await rs.request_response(Payload(b"a"))
        granter.grant(1, TTL)
        assert await rs.wait_lease() == rs.lease
        assert rs.lease is not None
        assert (rs.lease.allowed, rs.lease.remaining) == (1, 1)
        await rs.request_response(Payload(b"b"))
        with pytest.raises(MissingLeaseError, match=r"^lease exhausted"):
            await rs.request_response(Payload(b"c"))
        granted = (await served.accepted.get()).granted_lease
        assert granted is not None
        assert (granted.allowed, granted.remaining) == (1, 0)


async def test_wait_lease_needs_leasing() -> None:
    async with serving(None) as served, aiorsocket.connect(served.uri) as rs:
        with pytest.raises(LocalProtocolError, match="leasing is off"):
            await rs.wait_lease()


# --------------------------------------------------------------------------- LE-5: enforcing


async def _read_frame(reader: asyncio.StreamReader) -> Frame:
    size = int.from_bytes(await reader.readexactly(3), "big")
    return decode_frame(await reader.readexactly(size))


async def test_le5_requests_beyond_the_lease_get_rejected_on_the_wire() -> None:
    """A requester that ignores the lease (a raw socket here) gets ERROR[REJECTED], unprocessed."""
    async with serving(granting(1)) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
        try:

            def send(*frames: Frame) -> None:
                for frame in frames:
                    encoded = encode_frame(frame)
                    writer.write(len(encoded).to_bytes(3, "big") + encoded)

            # The request comes right behind the SETUP, before the server has granted anything.
            send(SetupFrame(20_000, 90_000, "a", "b", lease=True), RequestResponseFrame(1, b"early"))
            first = [await _read_frame(reader), await _read_frame(reader)]
            [rejected] = [frame for frame in first if isinstance(frame, ErrorFrame)]
            assert (rejected.stream_id, rejected.error_code) == (1, ErrorCode.REJECTED)
            assert rejected.data.startswith(b"lease missing")
            assert LeaseFrame(int(TTL * 1000), 1) in first

            send(RequestResponseFrame(3, b"in"), RequestResponseFrame(5, b"over"))
            replies = [await _read_frame(reader), await _read_frame(reader)]
            assert PayloadFrame(3, b"echo:in", None, False, True, True) in replies
            [over] = [frame for frame in replies if isinstance(frame, ErrorFrame)]
            assert (over.stream_id, over.error_code) == (5, ErrorCode.REJECTED)
            assert over.data.startswith(b"lease exhausted")
            assert served.handler.seen == [b"in"]
        finally:
            writer.close()
            await writer.wait_closed()


# --------------------------------------------------------------------------- strategies


async def test_fixed_rate_lease_is_granted_again_every_period() -> None:
    async with (
        serving(FixedRateLease(requests=1, period=0.05, ttl=TTL)) as served,
        aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs,
    ):
        await rs.request_response(Payload(b"a"))
        renewed = await rs.wait_lease()
        assert (renewed.allowed, renewed.remaining) == (1, 1)
        await rs.request_response(Payload(b"b"))
        assert served.handler.seen == [b"a", b"b"]


def test_fixed_rate_lease_outlives_its_period_by_default() -> None:
    assert FixedRateLease(requests=1, period=5.0).lease_ttl == 10.0
    assert FixedRateLease(requests=1, period=5.0, ttl=6.0).lease_ttl == 6.0


async def test_in_flight_lease_is_granted_again_every_period_while_idle() -> None:
    async with (
        serving(InFlightLease(max_in_flight=3, ttl=TTL, period=0.05)) as served,
        aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs,
    ):
        # No request is ever made, so only the period can bring a second LEASE.
        first = await rs.wait_lease()
        renewed = await rs.wait_lease()
        assert (first.allowed, renewed.allowed, renewed.remaining) == (3, 3, 3)
        assert renewed.expires_at > first.expires_at


async def test_in_flight_lease_follows_the_requests_being_served() -> None:
    async with (
        serving(InFlightLease(max_in_flight=2, ttl=TTL)) as served,
        aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs,
    ):
        served.handler.gates = {b"hold1": asyncio.Event(), b"hold2": asyncio.Event()}
        hold1 = asyncio.ensure_future(rs.request_response(Payload(b"hold1")))
        hold2 = asyncio.ensure_future(rs.request_response(Payload(b"hold2")))
        entered = {await served.handler.entered.get(), await served.handler.entered.get()}
        assert entered == {b"hold1", b"hold2"}
        server_side = await served.accepted.get()
        assert server_side.granted_lease is not None
        assert server_side.granted_lease.allowed == 2
        with pytest.raises(MissingLeaseError, match=r"^lease exhausted"):
            await rs.request_response(Payload(b"third"))

        served.handler.gates[b"hold1"].set()
        regrant = await rs.wait_lease()
        assert await hold1 == Payload(b"echo:hold1")
        assert (regrant.allowed, regrant.remaining) == (1, 1)  # one still in flight
        assert await rs.request_response(Payload(b"third")) == Payload(b"echo:third")

        served.handler.gates[b"hold2"].set()
        assert await hold2 == Payload(b"echo:hold2")


async def test_client_grants_and_the_server_requester_honours_it() -> None:
    class Pong(RequestHandler):
        async def request_response(self, payload: Payload) -> Payload:
            return Payload(b"pong:" + payload.data)

    async with (
        serving(granting(5)) as served,
        aiorsocket.connect(served.uri, handler=Pong(), lease=granting(1)),
    ):
        server_side = await served.accepted.get()
        assert await server_side.request_response(Payload(b"q")) == Payload(b"pong:q")
        with pytest.raises(MissingLeaseError, match=r"^lease exhausted: the peer granted 1 requests"):
            await server_side.request_response(Payload(b"q2"))


async def test_a_failing_strategy_is_logged_and_the_connection_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class GrantOnceThenFail(LeaseStrategy):
        async def run(self, granter: LeaseGranter) -> None:
            granter.grant(1, TTL)
            raise RuntimeError("no more")

    with caplog.at_level(logging.ERROR, logger="aiorsocket.lease"):
        async with (
            serving(GrantOnceThenFail()) as served,
            aiorsocket.connect(served.uri, lease=LeaseConfig()) as rs,
        ):
            assert await rs.request_response(Payload(b"a")) == Payload(b"echo:a")
            assert not rs.is_closed
    assert "lease strategy" in caplog.text
    assert "no more" in caplog.text


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "build",
    [
        lambda: FixedRateLease(requests=0, period=1.0),
        lambda: FixedRateLease(requests=1, period=1.0, ttl=0.0),
        lambda: FixedRateLease(requests=1, period=0.0),
        lambda: InFlightLease(max_in_flight=0),
        lambda: InFlightLease(max_in_flight=1, ttl=3e6),
        lambda: LeaseConfig(first_lease_timeout=0.0),
    ],
    ids=["no-requests", "no-ttl", "no-period", "no-in-flight", "ttl-past-31-bits", "no-timeout"],
)
def test_lease_settings_are_checked_when_built(build: Callable[[], object]) -> None:
    with pytest.raises(LocalProtocolError):
        build()

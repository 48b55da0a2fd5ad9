"""Session resumption through the fault-injection proxy (checklist §3.14, the issue's acceptance test).

One resumable client session carries hundreds of concurrent streams, channels and
request/responses while the proxy cuts (mid-frame included), resets and stalls its
links again and again: every item must arrive exactly once and in order, and no request
may fail or run twice.  Then the limits: a resume that would need frames the retained-byte
cap already dropped is refused cleanly, with memory bounded; and a link that goes silent
without ever closing is found by the keepalive max lifetime and replaced, with nothing lost.

Waits are on awaited events and counters (bounded polls where nothing reports a change),
never on sleeps; the numbers of the big run are printed for the record.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import pytest

import aiorsocket
from aiorsocket import (
    Payload,
    ReconnectPolicy,
    RejectedResumeError,
    RequestHandler,
    ResumeConfig,
    ResumeState,
    ResumeStats,
    RSocket,
)
from aiorsocket.resume import ResumableTransport
from reliability.fault_proxy import Fault, FaultPlan, FaultProxy
from support.polling import wait_for

STREAMS = 200
STREAM_ITEMS = 2_000
CHANNELS = 100
CHANNEL_ITEMS = 200
REQUESTS = 10_000
REQUESTS_IN_FLIGHT = 200
MIN_DISCONNECTS = 50
LIMIT = 10.0  # seconds any single wait in the smaller tests may take


def stats_of(rsocket: RSocket) -> ResumeStats:
    stats = rsocket.resume_stats
    assert stats is not None, "the session is not resumable"
    return stats


def only(server: aiorsocket.Server) -> RSocket:
    (rsocket,) = server.connections
    return rsocket


def index_of(item: Payload, prefix: bytes) -> int:
    """The item number in ``<prefix>:<n>``, after checking it belongs to this stream."""
    head, _, number = item.data.partition(b":")
    assert head == prefix, (head, prefix)
    return int(number)


def duplicates_and_losses(indexes: list[int], count: int) -> tuple[int, int]:
    seen = set(indexes)
    return len(indexes) - len(seen), len(set(range(count)) - seen)


# --- RE-6/RE-7 under sustained faults --------------------------------------------------------------


class Ledger(RequestHandler):
    """Numbered streams, echo channels and echo requests, with what the server side saw of each."""

    def __init__(self) -> None:
        self.request_runs: Counter[bytes] = Counter()
        self.channel_inbound: defaultdict[bytes, list[int]] = defaultdict(list)

    async def request_response(self, payload: Payload) -> Payload:
        self.request_runs[payload.data] += 1
        return Payload(payload.data)

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        prefix = payload.data
        for i in range(STREAM_ITEMS):
            yield Payload(b"%s:%d" % (prefix, i))

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        prefix = payload.data.partition(b":")[0]
        seen = self.channel_inbound[prefix]
        async for item in inbound:  # the first payload included
            seen.append(index_of(item, prefix))
            yield item


@pytest.mark.slow
async def test_re6_streams_channels_and_requests_survive_50_disconnects_exactly_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The server logs how many frames each resume sent again: the proof that cuts lost frames.
    caplog.set_level(logging.INFO, logger="aiorsocket.resume")
    loop = asyncio.get_running_loop()
    ledger = Ledger()
    plan = FaultPlan(
        seed=314,
        # ~6.5 MB cross the link in all: a fault every ~30 KB forces far more than 50 disconnects,
        # and from 1 byte on a few of them strike inside a RESUME handshake.
        cut_after=(1, 60_000),
        weights={Fault.CUT: 1.0, Fault.RESET: 1.0, Fault.STALL: 0.5},
        stall_for=(0.005, 0.05),
        max_faults=400,
        max_duration=90.0,
    )
    # A cap well above what goes unacknowledged between position reports (a quarter of it),
    # so that no resume here may be refused: every refusal would be a failure of the test.
    server_resume = ResumeConfig(session_lifetime=30.0, retained_bytes_cap=4 * 1024 * 1024)
    client_states: list[ResumeState] = []
    client_resume = ResumeConfig(
        session_lifetime=30.0,
        retained_bytes_cap=4 * 1024 * 1024,
        backoff=ReconnectPolicy(initial_backoff=0.002, max_backoff=0.05, connect_timeout=5.0),
        on_state=client_states.append,
    )
    stream_indexes: dict[int, list[int]] = {}
    channel_sent: dict[int, int] = {}
    channel_echoes: dict[int, list[int]] = {}
    replies: dict[int, bytes] = {}

    async with asyncio.timeout(120):
        async with (
            aiorsocket.serve(ledger, "tcp://127.0.0.1:0", resume=server_resume) as server,
            FaultProxy("127.0.0.1", server.port, plan) as proxy,
            aiorsocket.connect(proxy.uri, resume=client_resume) as rs,
        ):

            async def stream(number: int) -> None:
                prefix = b"s%d" % number
                stream_indexes[number] = [
                    index_of(item, prefix) async for item in rs.request_stream(Payload(prefix), limit_rate=64)
                ]

            async def channel(number: int) -> None:
                prefix = b"c%d" % number
                channel_sent[number] = 1  # the first payload, item 0

                async def outbound() -> AsyncIterator[Payload]:
                    for i in range(1, CHANNEL_ITEMS):
                        channel_sent[number] += 1
                        yield Payload(b"%s:%d" % (prefix, i))

                channel_echoes[number] = [
                    index_of(item, prefix)
                    async for item in rs.request_channel(Payload(prefix + b":0"), outbound(), limit_rate=32)
                ]

            ids = iter(range(REQUESTS))

            async def requester() -> None:
                for request_id in ids:  # shared: the workers take the ids in turn
                    data = b"r%d" % request_id
                    replies[request_id] = (await rs.request_response(Payload(data))).data

            started = loop.time()
            await asyncio.gather(
                *(stream(n) for n in range(STREAMS)),
                *(channel(n) for n in range(CHANNELS)),
                *(requester() for _ in range(REQUESTS_IN_FLIGHT)),
            )
            elapsed = loop.time() - started
            faults_during_work = list(proxy.stats.faults)
            disconnects_during_work = proxy.stats.disconnects_forced

            # The faults are over: the session is whole, and both sides agree on every byte (RE-2).
            proxy.stop_faults()
            assert await rs.request_response(Payload(b"after")) == Payload(b"after")
            client = stats_of(rs)
            server_side = stats_of(only(server))
            assert server.resumable_sessions == 1
            assert client.state is ResumeState.CONNECTED
            assert server_side.implied_position == client.position
            assert client.implied_position == server_side.position

    # Every stream: exactly 0..1999, once each, in order.
    assert sorted(stream_indexes) == list(range(STREAMS))
    stream_damage = [duplicates_and_losses(indexes, STREAM_ITEMS) for indexes in stream_indexes.values()]
    assert sum(d for d, _ in stream_damage) == 0, "duplicated stream items"
    assert sum(lost for _, lost in stream_damage) == 0, "lost stream items"
    assert all(indexes == list(range(STREAM_ITEMS)) for indexes in stream_indexes.values())
    # Every channel, both ways: the server got 0..199 once each in order, and so did the echo.
    assert channel_sent == dict.fromkeys(range(CHANNELS), CHANNEL_ITEMS)
    expected_channel = list(range(CHANNEL_ITEMS))
    assert ledger.channel_inbound == {b"c%d" % n: expected_channel for n in range(CHANNELS)}
    assert channel_echoes == dict.fromkeys(range(CHANNELS), expected_channel)
    # Every request/response: answered with its own value, and run exactly once on the server.
    assert replies == {i: b"r%d" % i for i in range(REQUESTS)}
    assert len(ledger.request_runs) == REQUESTS + 1
    assert set(ledger.request_runs.values()) == {1}
    # The faults really happened during the work, and the session rode out every one of them.
    assert disconnects_during_work >= MIN_DISCONNECTS, proxy.stats
    assert client.disconnects >= MIN_DISCONNECTS
    assert client.resumes == client.disconnects
    assert server_side.resumes >= client.resumes, (server_side, client)
    assert client.evicted_bytes == server_side.evicted_bytes == 0
    resent = [
        int(match[1])
        for record in caplog.records
        if (match := re.fullmatch(r"session \w+ resumed \((\d+) frames sent again\)", record.getMessage()))
    ]
    assert len(resent) == server_side.resumes
    assert sum(resent) > 0
    # Closed once, by us at the end, never by a failed resume.
    assert client_states.count(ResumeState.CLOSED) == 1
    assert client_states[-1] is ResumeState.CLOSED

    items = STREAMS * STREAM_ITEMS + 2 * CHANNELS * CHANNEL_ITEMS + REQUESTS
    fault_kinds = Counter(record.fault for record in faults_during_work)
    print(
        f"\nresume under faults: {items} items checked exactly once and in order "
        f"({STREAMS} streams x {STREAM_ITEMS}, {CHANNELS} channels x {CHANNEL_ITEMS} each way, "
        f"{REQUESTS} request/responses) in {elapsed:.1f} s; "
        f"{disconnects_during_work} disconnects forced during the work "
        f"({fault_kinds[Fault.CUT]} cuts, {fault_kinds[Fault.RESET]} resets, "
        f"{fault_kinds[Fault.STALL]} stalls), {proxy.stats.connections} links carrying "
        f"{proxy.stats.bytes_down} B down, {proxy.stats.bytes_up} B up; "
        f"client: {client.disconnects} disconnects survived, {client.resumes} resumes, "
        f"peak retained {client.peak_retained_bytes} B of {client.position} B sent; "
        f"server: {server_side.resumes} resumes sending {sum(resent)} frames again, "
        f"peak retained {server_side.peak_retained_bytes} B of {server_side.position} B sent; "
        f"duplicates 0, losses 0, failed requests 0"
    )


# --- RE-6: the retained-byte cap bounds memory, and a resume it makes impossible is refused -------

CAP = 64 * 1024
ITEM = 1024
FAST_BACKOFF = ReconnectPolicy(initial_backoff=0.002, max_backoff=0.05, connect_timeout=5.0)


class Gated(RequestHandler):
    """A stream and a channel whose server side waits at a gate, so a test can choose what is
    in flight when the link goes bad."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.channel_inbound: list[int] = []
        self.request_runs: Counter[bytes] = Counter()

    async def request_response(self, payload: Payload) -> Payload:
        self.request_runs[payload.data] += 1
        return payload

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        """``<before>:<after>:<size>``: ``before`` items, the gate, then ``after`` more."""
        before, after, size = (int(field) for field in payload.data.split(b":"))
        for i in range(before + after):
            if i == before:
                await self.gate.wait()
            yield Payload(b"s:%d:" % i + b"x" * size)

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        async for item in inbound:  # the first payload included
            self.channel_inbound.append(index_of(item, b"c"))
            yield Payload(item.data[:16])


def item_index(item: Payload) -> int:
    return int(item.data.split(b":")[1])


async def test_re6_a_resume_needing_more_than_the_servers_byte_cap_is_refused_cleanly() -> None:
    handler = Gated()
    async with (
        aiorsocket.serve(
            handler, "tcp://127.0.0.1:0", resume=ResumeConfig(retained_bytes_cap=CAP, session_lifetime=30)
        ) as server,
        FaultProxy("127.0.0.1", server.port) as proxy,
        aiorsocket.connect(proxy.uri, resume=ResumeConfig(backoff=FAST_BACKOFF)) as rs,
    ):
        # All credit up front (no REQUEST_N needed): the server streams 4 caps' worth past the gate.
        stream = rs.request_stream(Payload(b"1:256:%d" % ITEM), limit_rate=None)
        async with asyncio.timeout(LIMIT):
            assert item_index(await anext(stream)) == 0
        server_rs = only(server)
        # Nothing gets through from now on, acknowledgements included: the server must hold
        # every frame it sends for a resume, and its cap makes it drop the oldest instead.
        assert proxy.swallow_all() == 1
        handler.gate.set()

        def bounded() -> None:
            assert stats_of(server_rs).retained_bytes <= CAP

        async with asyncio.timeout(LIMIT):
            await proxy.wait_swallowed(down=3 * CAP)
        bounded()
        await wait_for(lambda: stats_of(server_rs).evicted_bytes > 2 * CAP, "the server to evict", bounded)
        assert proxy.cut_all(Fault.RESET) == 1

        with pytest.raises(RejectedResumeError) as refused:
            async with asyncio.timeout(LIMIT):
                await anext(stream)
        async with asyncio.timeout(LIMIT):
            await rs.wait_closed()
            await server_rs.wait_closed()
        server_stats = stats_of(server_rs)
        client_stats = stats_of(rs)

    # The client's RESUME named a position the server no longer holds frames from (RE-6 b):
    # REJECTED_RESUME, with a message naming the cap, and no retry after it (RE-8).
    message = str(refused.value)
    assert re.fullmatch(
        r"the client received up to position (\d+), but this server holds frames only from (\d+): "
        r"more than the retained-frame cap \(65536 bytes\) went unacknowledged \(RE-6\)",
        message,
    ), message
    assert type(refused.value) is RejectedResumeError
    assert refused.value.message == message
    assert type(rs.close_error) is RejectedResumeError
    assert str(rs.close_error) == message
    assert (client_stats.state, client_stats.disconnects, client_stats.resumes) == (ResumeState.CLOSED, 1, 0)
    assert proxy.stats.connections == 2  # the first link, and the one RESUME was refused on
    # The server ended the session and freed its token; its memory never passed the cap.
    assert str(server_rs.close_error).startswith("resume refused: the client received up to position")
    assert server.resumable_sessions == 0
    assert server_stats.state is ResumeState.CLOSED
    assert server_stats.peak_retained_bytes <= CAP
    assert server_stats.evicted_bytes > 2 * CAP


async def test_re6_a_resume_after_the_clients_byte_cap_dropped_unacknowledged_frames_is_refused() -> None:
    """The symmetric case, with the client's store capped.  Our server sees it first: the RESUME's
    first available client position is past what the server received (RE-6 a), so the server
    refuses with REJECTED_RESUME; the client-side RE-7 check is never reached (it only fires
    against a server that skips this check)."""
    handler = Gated()
    outbound: asyncio.Queue[Payload | None] = asyncio.Queue()

    async def items() -> AsyncIterator[Payload]:
        while (item := await outbound.get()) is not None:
            yield item

    async with (
        aiorsocket.serve(handler, "tcp://127.0.0.1:0", resume=ResumeConfig(session_lifetime=30)) as server,
        FaultProxy("127.0.0.1", server.port) as proxy,
        aiorsocket.connect(
            proxy.uri, resume=ResumeConfig(retained_bytes_cap=CAP, backoff=FAST_BACKOFF)
        ) as rs,
    ):
        channel = rs.request_channel(Payload(b"c:0"), items(), limit_rate=8)
        async with asyncio.timeout(LIMIT):
            assert await anext(channel) == Payload(b"c:0")
            # Item 1 comes back only once the server's credit (256 items) reached us.
            await outbound.put(Payload(b"c:1"))
            assert await anext(channel) == Payload(b"c:1")
        server_rs = only(server)
        assert proxy.swallow_all() == 1
        for i in range(2, 202):  # 200 KiB into the void, well within the credit
            await outbound.put(Payload(b"c:%d:" % i + b"x" * ITEM))

        def bounded() -> None:
            assert stats_of(rs).retained_bytes <= CAP

        async with asyncio.timeout(LIMIT):
            await proxy.wait_swallowed(up=3 * CAP)
        bounded()
        await wait_for(lambda: stats_of(rs).evicted_bytes > 2 * CAP, "the client to evict", bounded)
        assert proxy.cut_all(Fault.RESET) == 1

        with pytest.raises(RejectedResumeError) as refused:
            async with asyncio.timeout(LIMIT):
                await anext(channel)
        async with asyncio.timeout(LIMIT):
            await rs.wait_closed()
            await server_rs.wait_closed()
        client_stats = stats_of(rs)

    message = str(refused.value)
    match = re.fullmatch(
        r"the client holds frames only from position (\d+), but this server has received up to (\d+): "
        r"frames in between are lost \(RE-6\)",
        message,
    )
    assert match is not None, message
    assert int(match[1]) == client_stats.evicted_bytes > int(match[2])
    assert type(refused.value) is RejectedResumeError
    assert type(rs.close_error) is RejectedResumeError
    assert (client_stats.state, client_stats.disconnects, client_stats.resumes) == (ResumeState.CLOSED, 1, 0)
    assert client_stats.peak_retained_bytes <= CAP
    assert str(server_rs.close_error).startswith("resume refused: the client holds frames only from")
    assert server.resumable_sessions == 0
    assert handler.channel_inbound == [0, 1]  # nothing past the swallowed link ever reached it


# --- KA-4 with resumption: a link that goes silent without closing ---------------------------------


async def test_ka4_a_silent_link_is_dropped_at_max_lifetime_and_the_session_resumes_losing_nothing() -> None:
    handler = Gated()
    states: list[ResumeState] = []
    drops: list[str] = []
    async with (
        aiorsocket.serve(handler, "tcp://127.0.0.1:0", resume=ResumeConfig(session_lifetime=30)) as server,
        FaultProxy("127.0.0.1", server.port) as proxy,
        aiorsocket.connect(
            proxy.uri,
            keepalive_interval=0.2,
            max_lifetime=1.0,
            resume=ResumeConfig(backoff=FAST_BACKOFF, on_state=states.append),
        ) as rs,
    ):
        # Record why the client drops a link; the blackhole never closes one itself.
        transport = rs.transport
        assert isinstance(transport, ResumableTransport)
        drop_link = transport.drop_link

        def recording_drop(reason: str) -> None:
            drops.append(reason)
            drop_link(reason)

        transport.drop_link = recording_drop  # type: ignore[method-assign]

        stream = rs.request_stream(Payload(b"500:500:16"), limit_rate=None)
        received = []
        async with asyncio.timeout(LIMIT):
            while len(received) < 500:
                received.append(item_index(await anext(stream)))
        # The link goes silent both ways, for good, without a FIN or an RST.
        assert proxy.blackhole_all() == 1
        handler.gate.set()
        swallowed_up = proxy.stats.swallowed_up
        request = b"r" * 1000
        reply = asyncio.ensure_future(rs.request_response(Payload(request)))
        async with asyncio.timeout(LIMIT):
            # Items 500.. and the request (more bytes than the keepalives of a max lifetime) are lost.
            await proxy.wait_swallowed(down=1, up=swallowed_up + len(request))
            received.extend([item_index(item) async for item in stream])
            assert await reply == Payload(request)
        stats = stats_of(rs)
        assert states == [ResumeState.DISCONNECTED, ResumeState.RESUMING, ResumeState.CONNECTED]
        assert await rs.request_response(Payload(b"after")) == Payload(b"after")
        # The server took the RESUME whether or not its own keepalive clock had dropped the old link.
        assert stats_of(only(server)).resumes == 1
        assert server.resumable_sessions == 1

    assert received == list(range(1000))
    assert handler.request_runs == {request: 1, b"after": 1}
    # Dropped by the client's own keepalive clock, once, after at least the max lifetime.
    assert len(drops) == 1, drops
    silent = re.fullmatch(r"nothing from the peer for (\d+) ms", drops[0])
    assert silent is not None, drops
    assert int(silent[1]) >= 1000
    assert (stats.disconnects, stats.resumes, stats.evicted_bytes) == (1, 1, 0)
    assert proxy.stats.disconnects_forced == 0
    assert proxy.stats.faults == []
    assert proxy.stats.connections == 2
    assert proxy.stats.swallowed_down > 0

"""Our client against our server over real loopback TCP: every interaction model end to end.

These prove the asyncio layer works; interop with real peers is proven in tests/interop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.errors import ApplicationError, ConnectionLostError, RejectedError, RejectedSetupError


class Echo(aiorsocket.RequestHandler):
    def __init__(self) -> None:
        self.fnf: list[bytes] = []
        self.pushes: list[bytes] = []
        self.fnf_seen = asyncio.Event()
        self.push_seen = asyncio.Event()
        self.stream_cancelled = asyncio.Event()
        self.produced = 0

    async def request_response(self, payload: Payload) -> Payload | None:
        if payload.data == b"error":
            raise RuntimeError("boom")
        if payload.data == b"rejected":
            raise RejectedError("not today")
        if payload.data == b"empty":
            return None
        if payload.data == b"slow":
            await asyncio.sleep(3600)
        return Payload(b"echo:" + payload.data, payload.metadata)

    async def fire_and_forget(self, payload: Payload) -> None:
        self.fnf.append(payload.data)
        self.fnf_seen.set()

    async def metadata_push(self, metadata: bytes) -> None:
        self.pushes.append(metadata)
        self.push_seen.set()

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        try:
            for i in range(int(payload.data)):
                self.produced += 1
                yield Payload(str(i).encode())
        except GeneratorExit:
            self.stream_cancelled.set()
            raise

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        async for item in inbound:
            yield item


Served = tuple[aiorsocket.Server, Echo]


@pytest.fixture(params=[False, True], ids=["tasks", "eager"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    handler = Echo()
    handler.eager = request.param  # every interaction, with handlers started inline or as tasks
    async with aiorsocket.serve(handler, "tcp://127.0.0.1:0") as srv:
        yield srv, handler


async def test_rr1_request_response_echoes_data_and_metadata(server: Served) -> None:
    srv, _ = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        assert await rs.request_response(Payload(b"hi", b"md")) == Payload(b"echo:hi", b"md")
        assert await rs.request_response(Payload(b"x", b"")) == Payload(b"echo:x", b"")


async def test_rr1_empty_response_is_a_completion_without_value(server: Served) -> None:
    srv, _ = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        assert await rs.request_response(Payload(b"empty")) == Payload(b"", None)


async def test_rr2_handler_exception_becomes_application_error(server: Served) -> None:
    srv, _ = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        with pytest.raises(ApplicationError) as info:
            await rs.request_response(Payload(b"error"))
        assert info.value.code == aiorsocket.ErrorCode.APPLICATION_ERROR
        assert info.value.message == "boom"
        with pytest.raises(RejectedError, match="not today"):
            await rs.request_response(Payload(b"rejected"))


async def test_rr4_caller_timeout_cancels_and_connection_survives(server: Served) -> None:
    srv, _ = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await rs.request_response(Payload(b"slow"))
        assert await rs.request_response(Payload(b"after")) == Payload(b"echo:after", None)
        (conn,) = srv.connections
        assert conn.connection.stream_count == 0


async def test_ff1_fire_and_forget_and_mp2_metadata_push(server: Served) -> None:
    srv, handler = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        await rs.fire_and_forget(Payload(b"f1"))
        await handler.fnf_seen.wait()
        await rs.metadata_push(b"pushed")
        await handler.push_seen.wait()
    assert handler.fnf == [b"f1"]
    assert handler.pushes == [b"pushed"]


@pytest.mark.parametrize("limit_rate", [1, 7, 256, None])
async def test_rs1_stream_delivers_every_item_in_order(server: Served, limit_rate: int | None) -> None:
    srv, _ = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        items = [p.data async for p in rs.request_stream(Payload(b"500"), limit_rate=limit_rate)]
    assert items == [str(i).encode() for i in range(500)]


async def test_rs3_breaking_out_of_the_loop_sends_cancel(server: Served) -> None:
    srv, handler = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        stream = rs.request_stream(Payload(b"1000000"), limit_rate=4)
        count = 0
        async for _ in stream:
            count += 1
            if count == 10:
                break
        del stream
        await asyncio.wait_for(handler.stream_cancelled.wait(), 5)
        assert await rs.request_response(Payload(b"after")) == Payload(b"echo:after", None)
    # Credit bounds production: at most what was requested, never the million.
    assert handler.produced <= 10 + 4


async def test_rs3_cancelling_the_consumer_task_sends_cancel(server: Served) -> None:
    srv, handler = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        first = asyncio.Event()

        async def consume() -> None:
            async with rs.request_stream(Payload(b"1000000"), limit_rate=2) as stream:
                async for _ in stream:
                    first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(handler.stream_cancelled.wait(), 5)


async def test_rc_channel_echoes_every_payload_and_completes(server: Served) -> None:
    srv, _ = server

    async def outbound() -> AsyncIterator[Payload]:
        for i in range(300):
            yield Payload(b"c%d" % i)

    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        got = [p.data async for p in rs.request_channel(Payload(b"first"), outbound(), limit_rate=16)]
    assert got == [b"first"] + [b"c%d" % i for i in range(300)]


async def test_rc3_channel_without_outbound_completes_the_requester_half(
    server: Served,
) -> None:
    srv, _ = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        got = [p.data async for p in rs.request_channel(Payload(b"only"))]
    assert got == [b"only"]


@pytest.mark.parametrize("fragment_size", [0, 64, 65536])
async def test_fr_one_mebibyte_each_way(fragment_size: int) -> None:
    big = bytes(i % 251 for i in range(1 << 20))
    async with (
        aiorsocket.serve(Echo(), "tcp://127.0.0.1:0", fragment_size=fragment_size) as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}", fragment_size=fragment_size) as rs,
    ):
        reply = await rs.request_response(Payload(big, b"m" * 1000))
    assert reply.data == b"echo:" + big
    assert reply.metadata == b"m" * 1000


async def test_two_hundred_concurrent_requests(server: Served) -> None:
    srv, _ = server
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        replies = await asyncio.gather(*(rs.request_response(Payload(b"%d" % i)) for i in range(200)))
    assert [r.data for r in replies] == [b"echo:%d" % i for i in range(200)]


async def test_ipv6_loopback(server: Served) -> None:
    async with (
        aiorsocket.serve(Echo(), "tcp://[::1]:0") as srv,
        aiorsocket.connect(f"tcp://[::1]:{srv.port}") as rs,
    ):
        assert await rs.request_response(Payload(b"v6")) == Payload(b"echo:v6", None)


async def test_ka_keepalives_flow_for_several_intervals() -> None:
    async with (
        aiorsocket.serve(Echo(), "tcp://127.0.0.1:0") as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}", keepalive_interval=0.02, max_lifetime=0.2) as rs,
    ):
        # Ten lifetimes' worth of idling: the connection survives only if keepalives flow.
        deadline = asyncio.get_running_loop().time() + 0.5
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            assert not rs.is_closed
        assert await rs.request_response(Payload(b"alive")) == Payload(b"echo:alive", None)


async def test_su7_acceptor_rejection_reaches_the_client_as_rejected_setup() -> None:
    async def acceptor(setup: aiorsocket.ConnectionSetup, requester: aiorsocket.RSocket) -> None:
        raise RejectedSetupError("go away")

    async with (
        aiorsocket.serve(acceptor, "tcp://127.0.0.1:0") as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs,
    ):
        with pytest.raises(RejectedSetupError, match="go away"):
            await rs.request_response(Payload(b"x"))
        await rs.wait_closed()


async def test_acceptor_sees_setup_payload_and_mimes() -> None:
    seen: list[aiorsocket.ConnectionSetup] = []

    async def acceptor(setup: aiorsocket.ConnectionSetup, requester: aiorsocket.RSocket) -> Echo:
        seen.append(setup)
        return Echo()

    async with (
        aiorsocket.serve(acceptor, "tcp://127.0.0.1:0") as srv,
        aiorsocket.connect(
            f"tcp://127.0.0.1:{srv.port}",
            data_mime="application/json",
            metadata_mime="message/x.rsocket.composite-metadata.v0",
            setup_payload=Payload(b"{}", b"setup-md"),
        ) as rs,
    ):
        assert await rs.request_response(Payload(b"q")) == Payload(b"echo:q", None)
    (setup,) = seen
    assert setup.data_mime == "application/json"
    assert setup.metadata_mime == "message/x.rsocket.composite-metadata.v0"
    assert setup.payload == Payload(b"{}", b"setup-md")


async def test_server_calls_the_client_back() -> None:
    results: asyncio.Queue[Payload] = asyncio.Queue()

    class ClientSide(aiorsocket.RequestHandler):
        async def request_response(self, payload: Payload) -> Payload:
            return Payload(b"client says " + payload.data)

    async def acceptor(setup: aiorsocket.ConnectionSetup, requester: aiorsocket.RSocket) -> Echo:
        async def call_back() -> None:
            await results.put(await requester.request_response(Payload(b"hello")))

        asyncio.get_running_loop().create_task(call_back())
        return Echo()

    async with (
        aiorsocket.serve(acceptor, "tcp://127.0.0.1:0") as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}", handler=ClientSide()) as rs,
    ):
        assert await rs.request_response(Payload(b"q")) == Payload(b"echo:q", None)
        assert await asyncio.wait_for(results.get(), 5) == Payload(b"client says hello", None)


async def test_pending_requests_fail_when_the_server_goes_away() -> None:
    srv = await aiorsocket.serve(Echo(), "tcp://127.0.0.1:0")
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        pending = asyncio.ensure_future(rs.request_response(Payload(b"slow")))
        for conn in list(srv.connections):
            conn.transport.abort()
        with pytest.raises(ConnectionLostError):
            await pending
        with pytest.raises(ConnectionLostError):
            await rs.request_response(Payload(b"x"))
    await srv.close()


async def test_graceful_server_close_lets_open_streams_finish() -> None:
    handler = Echo()
    srv = await aiorsocket.serve(handler, "tcp://127.0.0.1:0")
    async with aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs:
        stream = rs.request_stream(Payload(b"200"), limit_rate=5)
        first = await anext(stream)
        closing = asyncio.ensure_future(srv.close())
        rest = [p.data async for p in stream]
        await closing
    assert [first.data, *rest] == [str(i).encode() for i in range(200)]

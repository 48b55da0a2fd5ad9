"""The reconnecting client (issue 6, item 5): ``connect(..., reconnect=ReconnectPolicy(...))``.

A lost connection is re-established with backoff; every state change reaches the
application; requests that cannot have reached the server wait for the next
connection; requests that may have run fail with ConnectionLostError.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator

import pytest

import aiorsocket
from aiorsocket import ClientState, Payload, ReconnectPolicy, StateChange
from aiorsocket.errors import (
    ConnectionLostError,
    InvalidSetupError,
    LocalProtocolError,
    RejectedSetupError,
)
from aiorsocket.reconnect import ReconnectingRSocket, StateChanges

FAST = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.05)
LIMIT = 10.0


class Recorder(aiorsocket.RequestHandler):
    """Answers ``echo:<data>``, hangs on ``hang``, and streams ``a`` then ``b`` once ``release`` is set."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.hanging = asyncio.Event()
        self.release = asyncio.Event()

    async def request_response(self, payload: Payload) -> Payload:
        self.seen.append(payload.data)
        if payload.data == b"hang":
            self.hanging.set()
            await asyncio.Event().wait()
        return Payload(b"echo:" + payload.data)

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        yield Payload(b"a")
        await self.release.wait()
        yield Payload(b"b")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(changes: StateChanges, state: ClientState) -> StateChange:
    async with asyncio.timeout(LIMIT):
        async for change in changes:
            if change.state is state:
                return change
    raise AssertionError(f"the client closed before reaching {state}")


def drop_server_side(server: aiorsocket.Server) -> None:
    for rsocket in list(server.connections):
        rsocket.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"initial_backoff": -1}, "initial_backoff"),
        ({"initial_backoff": 2, "max_backoff": 1}, "max_backoff"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": 1.5}, "jitter"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"connect_timeout": 0}, "connect_timeout"),
    ],
)
def test_policy_refuses_bad_values_with_a_message_naming_them(
    options: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ReconnectPolicy(**options)  # type: ignore[arg-type]


def test_policy_delays_grow_geometrically_to_the_cap_and_jitter_stays_in_bounds() -> None:
    rng = random.Random(1)
    exact = ReconnectPolicy(initial_backoff=0.1, max_backoff=1.0, multiplier=2.0, jitter=0.0)
    assert [exact.delay(n, rng) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    jittered = ReconnectPolicy(initial_backoff=0.1, max_backoff=1.0, multiplier=2.0, jitter=0.5)
    for attempt in range(1, 8):
        base = min(1.0, 0.1 * 2 ** (attempt - 1))
        for _ in range(50):
            assert base * 0.5 <= jittered.delay(attempt, rng) <= min(1.0, base * 1.5)
    # Retrying forever must not overflow the exponent.
    assert exact.delay(100_000, rng) == 1.0


async def test_connect_reports_connecting_then_connected_and_closed_on_exit() -> None:
    changes: list[StateChange] = []
    async with aiorsocket.serve(Recorder(), "tcp://127.0.0.1:0") as server:
        uri = f"tcp://127.0.0.1:{server.port}"
        async with aiorsocket.connect(uri, reconnect=FAST, on_state_change=changes.append) as client:
            assert isinstance(client, ReconnectingRSocket)
            assert client.state is ClientState.CONNECTED
            assert (await client.request_response(Payload(b"hi"))).data == b"echo:hi"
    assert [(c.state, c.attempt, c.error) for c in changes] == [
        (ClientState.CONNECTING, 1, None),
        (ClientState.CONNECTED, 1, None),
        (ClientState.CLOSED, 0, None),
    ]
    assert client.is_closed


async def test_in_flight_request_fails_on_loss_and_the_next_request_uses_a_new_connection() -> None:
    handler = Recorder()
    async with (
        aiorsocket.serve(handler, "tcp://127.0.0.1:0") as server,
        aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", reconnect=FAST) as client,
    ):
        changes = client.states()
        await until(changes, ClientState.CONNECTED)
        in_flight = asyncio.ensure_future(client.request_response(Payload(b"hang")))
        await handler.hanging.wait()
        first = client.current
        drop_server_side(server)
        with pytest.raises(ConnectionLostError):
            await in_flight
        lost = await until(changes, ClientState.DISCONNECTED)
        assert isinstance(lost.error, ConnectionLostError)
        assert lost.attempt == 0
        await until(changes, ClientState.CONNECTED)
        assert (await client.request_response(Payload(b"next"))).data == b"echo:next"
        assert client.current is not first
        assert (client.stats.connects, client.stats.disconnects) == (2, 1)
    # The lost request ran once and was not sent again.
    assert handler.seen.count(b"hang") == 1


async def test_requests_made_while_the_server_is_down_wait_and_run_once_when_it_returns() -> None:
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    first_handler, second_handler = Recorder(), Recorder()
    server = await aiorsocket.serve(first_handler, uri)
    async with aiorsocket.connect(uri, reconnect=FAST) as client:
        changes = client.states()
        await server.close()
        await until(changes, ClientState.DISCONNECTED)
        # Attempts are being refused now; these requests have nowhere to go yet.
        waiting = [asyncio.ensure_future(client.request_response(Payload(b"%d" % i))) for i in range(5)]
        failed = await until(changes, ClientState.DISCONNECTED)
        assert isinstance(failed.error, ConnectionRefusedError)
        assert not any(task.done() for task in waiting)
        async with aiorsocket.serve(second_handler, uri):
            async with asyncio.timeout(LIMIT):
                replies = await asyncio.gather(*waiting)
        assert [reply.data for reply in replies] == [b"echo:%d" % i for i in range(5)]
        assert client.stats.held == 5
    assert first_handler.seen == []
    assert sorted(second_handler.seen) == [b"%d" % i for i in range(5)]


async def test_policy_gives_up_after_max_attempts_with_the_cause_attached() -> None:
    changes: list[StateChange] = []
    policy = ReconnectPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=3)
    with pytest.raises(ConnectionLostError, match="gave up after 3") as caught:
        await aiorsocket.connect(
            f"tcp://127.0.0.1:{free_port()}", reconnect=policy, on_state_change=changes.append
        )
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert [(c.state, c.attempt) for c in changes] == [
        (ClientState.CONNECTING, 1),
        (ClientState.DISCONNECTED, 1),
        (ClientState.CONNECTING, 2),
        (ClientState.DISCONNECTED, 2),
        (ClientState.CONNECTING, 3),
        (ClientState.DISCONNECTED, 3),
        (ClientState.CLOSED, 3),
    ]
    assert changes[-1].error is caught.value


async def test_waiting_requests_fail_once_the_policy_gives_up() -> None:
    policy = ReconnectPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=2)
    server = await aiorsocket.serve(Recorder(), "tcp://127.0.0.1:0")
    client = await aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", reconnect=policy)
    changes = client.states()
    await server.close()
    waiting = asyncio.ensure_future(client.request_response(Payload(b"x")))
    closed = await until(changes, ClientState.CLOSED)
    with pytest.raises(ConnectionLostError, match="gave up after 2"):
        await waiting
    assert closed.error is not None
    await client.aclose()


async def test_a_bad_uri_is_not_retried() -> None:
    changes: list[StateChange] = []
    with pytest.raises(LocalProtocolError):
        await aiorsocket.connect("nope://127.0.0.1:1", reconnect=FAST, on_state_change=changes.append)
    assert [c.state for c in changes] == [ClientState.CONNECTING, ClientState.CLOSED]


async def test_invalid_setup_closes_the_client_for_good() -> None:
    async def acceptor(setup: aiorsocket.ConnectionSetup, requester: aiorsocket.RSocket) -> None:
        raise InvalidSetupError("bad setup")

    async with aiorsocket.serve(acceptor, "tcp://127.0.0.1:0") as server:
        client = await aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", reconnect=FAST)
        closed = await until(client.states(), ClientState.CLOSED)
        assert isinstance(closed.error, InvalidSetupError)
        with pytest.raises(InvalidSetupError):
            await client.request_response(Payload(b"x"))
        await client.aclose()


async def test_rejected_setup_is_retried_and_a_request_made_meanwhile_runs_once() -> None:
    handler = Recorder()
    setups = 0

    async def acceptor(setup: aiorsocket.ConnectionSetup, requester: aiorsocket.RSocket) -> Recorder:
        nonlocal setups
        setups += 1
        if setups <= 2:
            raise RejectedSetupError("busy, come back later")
        return handler

    async with (
        aiorsocket.serve(acceptor, "tcp://127.0.0.1:0") as server,
        aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", reconnect=FAST) as client,
    ):
        # Sent on the first connection, refused with its SETUP: never processed, so sent again.
        reply = await client.request_response(Payload(b"once"))
    assert reply.data == b"echo:once"
    assert setups == 3
    assert handler.seen == [b"once"]


async def test_closing_during_the_backoff_stops_reconnecting_at_once() -> None:
    slow = ReconnectPolicy(initial_backoff=30.0, max_backoff=30.0)
    async with aiorsocket.serve(Recorder(), "tcp://127.0.0.1:0") as server:
        client = await aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", reconnect=slow)
        changes = client.states()
        drop_server_side(server)
        await until(changes, ClientState.DISCONNECTED)
        waiting = asyncio.ensure_future(client.request_response(Payload(b"x")))
        await asyncio.sleep(0)  # let the request start waiting for a connection
        async with asyncio.timeout(2.0):
            await client.aclose()
        assert (await until(changes, ClientState.CLOSED)).error is None
        with pytest.raises(ConnectionLostError, match="closed"):
            await waiting
    assert client.stats.connects == 1


async def test_state_iterator_starts_with_the_current_state_and_ends_after_closed() -> None:
    async with aiorsocket.serve(Recorder(), "tcp://127.0.0.1:0") as server:
        client = await aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", reconnect=FAST)
        changes = client.states()
        drop_server_side(server)
        seen: list[ClientState] = []
        async with asyncio.timeout(LIMIT):
            async for change in changes:
                seen.append(change.state)
                if len(seen) == 4:
                    await client.aclose()
    assert seen == [
        ClientState.CONNECTED,
        ClientState.DISCONNECTED,
        ClientState.CONNECTING,
        ClientState.CONNECTED,
        ClientState.CLOSED,
    ]
    assert [c.state async for c in client.states()] == [ClientState.CLOSED]


async def test_a_failing_state_callback_does_not_stop_reconnection() -> None:
    def broken(change: StateChange) -> None:
        raise RuntimeError("application bug")

    async with (
        aiorsocket.serve(Recorder(), "tcp://127.0.0.1:0") as server,
        aiorsocket.connect(
            f"tcp://127.0.0.1:{server.port}", reconnect=FAST, on_state_change=broken
        ) as client,
    ):
        changes = client.states()
        drop_server_side(server)
        # Only once the loss is seen: a request written before that may have reached the server.
        await until(changes, ClientState.DISCONNECTED)
        assert (await client.request_response(Payload(b"x"))).data == b"echo:x"


@pytest.mark.parametrize("closing_on", [ClientState.CONNECTED, ClientState.DISCONNECTED])
async def test_a_state_callback_may_close_the_client_and_it_stays_closed(closing_on: ClientState) -> None:
    seen: list[ClientState] = []
    client: ReconnectingRSocket | None = None

    def on_change(change: StateChange) -> None:
        seen.append(change.state)
        if change.state is closing_on and client is not None:
            client.close()

    async with aiorsocket.serve(Recorder(), "tcp://127.0.0.1:0") as server:
        client = await aiorsocket.connect(
            f"tcp://127.0.0.1:{server.port}", reconnect=FAST, on_state_change=on_change
        )
        changes = client.states()
        drop_server_side(server)
        await until(changes, ClientState.CLOSED)
        async with asyncio.timeout(LIMIT):
            await client.aclose()
    # The callback closed the client on the last `closing_on`: CLOSED follows, and nothing after it.
    last = len(seen) - 1 - seen[::-1].index(closing_on)
    assert seen[last + 1 :] == [ClientState.CLOSED]


async def test_graceful_server_close_moves_new_requests_while_the_old_stream_finishes() -> None:
    handler = Recorder()
    async with (
        aiorsocket.serve(handler, "tcp://127.0.0.1:0") as server,
        aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", reconnect=FAST) as client,
    ):
        stream = client.request_stream(Payload(b"s"))
        assert (await anext(stream)).data == b"a"
        (first,) = server.connections
        draining = asyncio.ensure_future(first.close_gracefully("rolling restart"))
        # Either the client has seen CONNECTION_CLOSE (and skips that connection) or the
        # server answers REJECTED: both prove the request unprocessed, so it moves on.
        assert (await client.request_response(Payload(b"moved"))).data == b"echo:moved"
        assert client.stats.held == 1
        assert len(server.connections) == 2
        handler.release.set()
        assert [item.data async for item in stream] == [b"b"]
        async with asyncio.timeout(LIMIT):
            await draining
    assert handler.seen == [b"moved"]


async def test_stream_opened_while_disconnected_starts_on_the_next_connection() -> None:
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    server = await aiorsocket.serve(Recorder(), uri)
    async with aiorsocket.connect(uri, reconnect=FAST) as client:
        changes = client.states()
        await server.close()
        await until(changes, ClientState.DISCONNECTED)
        stream = client.request_stream(Payload(b"s"))
        assert stream.stream_id is None
        handler = Recorder()
        handler.release.set()
        async with aiorsocket.serve(handler, uri):
            async with asyncio.timeout(LIMIT):
                items = [item.data async for item in stream]
    assert items == [b"a", b"b"]


async def test_stream_that_loses_its_connection_after_items_fails_with_connection_lost() -> None:
    async with (
        aiorsocket.serve(Recorder(), "tcp://127.0.0.1:0") as server,
        aiorsocket.connect(f"tcp://127.0.0.1:{server.port}", reconnect=FAST) as client,
    ):
        stream = client.request_stream(Payload(b"s"))
        assert stream.stream_id is not None
        assert (await anext(stream)).data == b"a"
        drop_server_side(server)
        with pytest.raises(ConnectionLostError):
            await anext(stream)
        with pytest.raises(StopAsyncIteration):
            await anext(stream)

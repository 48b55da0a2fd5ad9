"""The load-balanced client (issue 6, item 6): strategies, a pool that changes at runtime, failed
targets evicted and retried, and requests re-sent elsewhere only when provably never processed."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

import aiorsocket
from aiorsocket import (
    ClientState,
    LoadBalancedRSocket,
    Payload,
    ReconnectPolicy,
    RoundRobin,
    WeightedLeastOutstanding,
)
from aiorsocket.errors import ApplicationError, ConnectionLostError, RejectedError, RejectedSetupError
from aiorsocket.loadbalance import Target

FAST = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.05)
LIMIT = 10.0


class Backend(aiorsocket.RequestHandler):
    """Answers with its name; ``mode`` makes it reject, fail, or hang on ``hang`` until released."""

    def __init__(self, name: str, mode: str = "answer", delay: float = 0.0) -> None:
        self.name = name
        self.mode = mode
        self.delay = delay
        self.seen: list[bytes] = []
        self.hanging = asyncio.Event()
        self.release = asyncio.Event()

    async def request_response(self, payload: Payload) -> Payload:
        self.seen.append(payload.data)
        if self.mode == "reject":
            raise RejectedError("overloaded")
        if self.mode == "fail":
            raise ApplicationError("boom")
        if payload.data == b"hang":
            self.hanging.set()
            await self.release.wait()
        if self.delay:
            await asyncio.sleep(self.delay)  # the service time this backend models
        return Payload(self.name.encode() + b":" + payload.data)

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        self.seen.append(payload.data)
        if self.mode == "reject":
            raise RejectedError("overloaded")
        for i in range(3):
            yield Payload(b"%s:%d" % (self.name.encode(), i))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve_backends(*backends: Backend) -> list[aiorsocket.Server]:
    return [await aiorsocket.serve(backend, "tcp://127.0.0.1:0") for backend in backends]


def uris(servers: list[aiorsocket.Server]) -> list[str]:
    return [f"tcp://127.0.0.1:{server.port}" for server in servers]


async def close_all(servers: list[aiorsocket.Server]) -> None:
    for server in servers:
        await server.close(grace=0.5)


def spread(replies: list[Payload]) -> Counter[str]:
    return Counter(reply.data.split(b":")[0].decode() for reply in replies)


async def test_round_robin_spreads_requests_evenly_over_connected_targets() -> None:
    backends = [Backend(f"b{i}") for i in range(3)]
    servers = await serve_backends(*backends)
    try:
        async with LoadBalancedRSocket(uris(servers), strategy=RoundRobin(), reconnect=FAST) as pool:
            await pool.wait_targets(3)
            replies = [await pool.request_response(Payload(b"%d" % i)) for i in range(300)]
    finally:
        await close_all(servers)
    assert spread(replies) == {"b0": 100, "b1": 100, "b2": 100}


def measured(name: str, latency: float, outstanding: int = 0, age: float = 0.0) -> Target:
    """A target whose last answer, ``age`` seconds ago, left its latency estimate at ``latency``."""
    target = Target(f"tcp://{name}:1")
    target.latency, target.outstanding = latency, outstanding
    target.sampled_at = time.monotonic() - age
    return target


def test_weighted_strategy_picks_the_lighter_of_two_targets() -> None:
    strategy = WeightedLeastOutstanding(rng=random.Random(3))
    light, heavy = measured("light", 0.010, outstanding=1), measured("heavy", 0.010, outstanding=5)
    assert strategy.select([heavy, light]) is light
    # Fewer requests in flight lose to a much slower answer time.
    heavy.outstanding, heavy.latency = 0, 0.100
    assert strategy.select([heavy, light]) is light
    # Connection failures lower availability, and with it the weight.
    heavy.latency, heavy.availability = 0.010, 0.05
    light.outstanding = 3
    assert strategy.select([heavy, light]) is light


def test_weighted_strategy_tries_a_target_without_history_as_fast_as_the_fastest() -> None:
    known, new = measured("known", 0.005, outstanding=2), Target("tcp://new:1")
    assert WeightedLeastOutstanding(rng=random.Random(1)).select([known, new]) is new


def test_weighted_strategy_forgets_an_old_slow_answer_so_the_target_is_measured_again() -> None:
    strategy = WeightedLeastOutstanding(decay=1.0, rng=random.Random(2))
    busy = measured("busy", 0.010, outstanding=2)
    assert strategy.select([busy, measured("slow-just-now", 0.200)]).uri == "tcp://busy:1"
    assert strategy.select([busy, measured("slow-long-ago", 0.200, age=10.0)]).uri == "tcp://slow-long-ago:1"
    with pytest.raises(ValueError, match="decay"):
        WeightedLeastOutstanding(decay=0)


def test_weighted_strategy_samples_two_of_many() -> None:
    targets = [measured(f"t{i}", 0.01, outstanding=i) for i in range(10)]
    strategy = WeightedLeastOutstanding(rng=random.Random(5))
    picks = Counter(strategy.select(targets).uri for _ in range(2000))
    # The busiest can never win a pair; the idlest wins every pair it is drawn in (~20%).
    assert "tcp://t9:1" not in picks
    assert picks["tcp://t0:1"] > picks["tcp://t5:1"] > picks["tcp://t8:1"]


async def test_weighted_least_outstanding_sends_most_requests_to_the_faster_backend() -> None:
    fast, slow = Backend("fast"), Backend("slow", delay=0.02)
    servers = await serve_backends(fast, slow)
    try:
        async with LoadBalancedRSocket(
            uris(servers), strategy=WeightedLeastOutstanding(rng=random.Random(9)), reconnect=FAST
        ) as pool:
            await pool.wait_targets(2)

            async def worker(worker_id: int) -> list[Payload]:
                return [await pool.request_response(Payload(b"%d" % worker_id)) for _ in range(20)]

            replies = [
                reply for batch in await asyncio.gather(*(worker(w) for w in range(8))) for reply in batch
            ]
    finally:
        await close_all(servers)
    counts = spread(replies)
    assert counts["fast"] > 3 * counts["slow"], counts


async def test_a_refused_target_is_evicted_and_requests_go_to_the_healthy_one() -> None:
    healthy = Backend("healthy")
    servers = await serve_backends(healthy)
    dead = f"tcp://127.0.0.1:{free_port()}"
    try:
        async with LoadBalancedRSocket([dead, *uris(servers)], reconnect=FAST) as pool:
            replies = [await pool.request_response(Payload(b"%d" % i)) for i in range(50)]
            dead_target = next(t for t in pool.targets if t.uri == dead)
            assert dead_target.state in (ClientState.CONNECTING, ClientState.DISCONNECTED)
            assert dead_target.client is not None
            assert dead_target.client.stats.failed_attempts >= 1
            assert dead_target.requests == 0
    finally:
        await close_all(servers)
    assert spread(replies) == {"healthy": 50}


async def test_a_target_that_comes_back_rejoins_the_rotation() -> None:
    first = Backend("first")
    servers = await serve_backends(first)
    port = free_port()
    late_uri = f"tcp://127.0.0.1:{port}"
    try:
        async with LoadBalancedRSocket([*uris(servers), late_uri], reconnect=FAST) as pool:
            await pool.wait_targets(1)
            assert spread([await pool.request_response(Payload(b"x")) for _ in range(4)]) == {"first": 4}
            async with aiorsocket.serve(Backend("late"), late_uri):
                async with asyncio.timeout(LIMIT):
                    await pool.wait_targets(2)
                replies = [await pool.request_response(Payload(b"y")) for _ in range(10)]
    finally:
        await close_all(servers)
    assert spread(replies) == {"first": 5, "late": 5}


async def test_rejected_requests_are_sent_to_another_target_and_run_there_once() -> None:
    refusing, answering = Backend("refusing", mode="reject"), Backend("answering")
    servers = await serve_backends(refusing, answering)
    try:
        async with LoadBalancedRSocket(uris(servers), strategy=RoundRobin(), reconnect=FAST) as pool:
            await pool.wait_targets(2)
            replies = [await pool.request_response(Payload(b"%d" % i)) for i in range(10)]
            assert pool.retried == len(refusing.seen)
    finally:
        await close_all(servers)
    assert spread(replies) == {"answering": 10}
    assert answering.seen == [b"%d" % i for i in range(10)]
    assert len(refusing.seen) >= 5


async def test_when_every_target_rejects_the_rejection_reaches_the_caller() -> None:
    servers = await serve_backends(Backend("a", mode="reject"), Backend("b", mode="reject"))
    try:
        async with LoadBalancedRSocket(uris(servers), reconnect=FAST) as pool:
            await pool.wait_targets(2)
            with pytest.raises(RejectedError, match="overloaded"):
                await pool.request_response(Payload(b"x"))
            assert pool.retried == 2
    finally:
        await close_all(servers)


async def test_an_application_error_is_not_sent_elsewhere() -> None:
    failing, other = Backend("failing", mode="fail"), Backend("other")
    servers = await serve_backends(failing, other)
    try:
        async with LoadBalancedRSocket(uris(servers), strategy=RoundRobin(), reconnect=FAST) as pool:
            await pool.wait_targets(2)
            with pytest.raises(ApplicationError, match="boom"):
                await pool.request_response(Payload(b"x"))
    finally:
        await close_all(servers)
    assert (failing.seen, other.seen) == ([b"x"], [])


async def test_a_request_lost_with_its_connection_is_not_sent_elsewhere() -> None:
    victim, other = Backend("victim"), Backend("other")
    servers = await serve_backends(victim, other)
    try:
        async with LoadBalancedRSocket(uris(servers), strategy=RoundRobin(), reconnect=FAST) as pool:
            await pool.wait_targets(2)
            in_flight = asyncio.ensure_future(pool.request_response(Payload(b"hang")))
            await victim.hanging.wait()
            for rsocket in list(servers[0].connections):
                rsocket.close()
            with pytest.raises(ConnectionLostError):
                await in_flight
            assert pool.targets[0].connection_failures == 1
            assert pool.targets[0].availability < 1.0
    finally:
        await close_all(servers)
    assert (victim.seen, other.seen) == ([b"hang"], [])


async def test_a_target_refusing_its_setup_gets_no_request_that_runs() -> None:
    setups = 0

    async def refuse(setup: aiorsocket.ConnectionSetup, requester: aiorsocket.RSocket) -> None:
        nonlocal setups
        setups += 1
        raise RejectedSetupError("not yet")

    healthy = Backend("healthy")
    refusing = await aiorsocket.serve(refuse, "tcp://127.0.0.1:0")
    servers = [refusing, *await serve_backends(healthy)]
    try:
        async with LoadBalancedRSocket(uris(servers), strategy=RoundRobin(), reconnect=FAST) as pool:
            replies = [await pool.request_response(Payload(b"%d" % i)) for i in range(30)]
    finally:
        await close_all(servers)
    assert spread(replies) == {"healthy": 30}
    assert setups >= 1


async def test_targets_added_and_removed_at_runtime_and_a_removed_one_drains_first() -> None:
    a, b = Backend("a"), Backend("b")
    servers = await serve_backends(a, b)
    uri_a, uri_b = uris(servers)
    try:
        async with LoadBalancedRSocket([uri_a], strategy=RoundRobin(), reconnect=FAST) as pool:
            await pool.wait_targets(1)
            pool.add_target(uri_b)
            await pool.wait_targets(2)
            assert spread([await pool.request_response(Payload(b"x")) for _ in range(4)]) == {"a": 2, "b": 2}

            # Round robin's turn is a's: leave a request in flight there, then remove a.
            in_flight = asyncio.ensure_future(pool.request_response(Payload(b"hang")))
            async with asyncio.timeout(LIMIT):
                await a.hanging.wait()
            target_a = pool.targets[0]
            pool.remove_target(uri_a)
            assert [t.uri for t in pool.targets] == [uri_b]
            assert spread([await pool.request_response(Payload(b"y")) for _ in range(3)]) == {"b": 3}
            assert target_a.client is not None
            assert not target_a.client.is_closed
            a.release.set()
            assert (await in_flight).data == b"a:hang"
            async with asyncio.timeout(LIMIT):
                await target_a.client.wait_closed()
            pool.set_targets([uri_a])
            await pool.wait_targets(1)
            assert [t.uri for t in pool.targets] == [uri_a]
    finally:
        await close_all(servers)


async def test_a_stream_rejected_before_its_first_item_is_reopened_on_another_target() -> None:
    servers = await serve_backends(Backend("refusing", mode="reject"), Backend("answering"))
    try:
        async with LoadBalancedRSocket(uris(servers), strategy=RoundRobin(), reconnect=FAST) as pool:
            await pool.wait_targets(2)
            batches = [[item.data async for item in pool.request_stream(Payload(b"s"))] for _ in range(4)]
            assert all(target.outstanding == 0 for target in pool.targets)
    finally:
        await close_all(servers)
    assert batches == [[b"answering:0", b"answering:1", b"answering:2"]] * 4


async def test_requests_wait_while_no_target_is_connected_and_close_fails_them() -> None:
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    async with LoadBalancedRSocket([uri], reconnect=FAST) as pool:
        waiting = asyncio.ensure_future(pool.request_response(Payload(b"early")))
        await asyncio.sleep(0)
        assert not waiting.done()
        async with aiorsocket.serve(Backend("late"), uri):
            async with asyncio.timeout(LIMIT):
                assert (await waiting).data == b"late:early"
        stuck = asyncio.ensure_future(pool.wait_targets(2))
        await asyncio.sleep(0)
        pool.close()
        with pytest.raises(ConnectionLostError, match="closed"):
            await stuck
        with pytest.raises(ConnectionLostError, match="closed"):
            await pool.request_response(Payload(b"after"))


async def test_a_target_whose_policy_gives_up_leaves_the_pool() -> None:
    healthy = Backend("healthy")
    servers = await serve_backends(healthy)
    dead = f"tcp://127.0.0.1:{free_port()}"
    gone = asyncio.Event()

    def on_target_change(uri: str, change: aiorsocket.StateChange) -> None:
        if uri == dead and change.state is ClientState.CLOSED:
            gone.set()

    policy = ReconnectPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=2)
    try:
        async with LoadBalancedRSocket(
            [dead, *uris(servers)], reconnect=policy, on_target_change=on_target_change
        ) as pool:
            async with asyncio.timeout(LIMIT):
                await gone.wait()
            assert [target.uri for target in pool.targets] == uris(servers)
            assert (await pool.request_response(Payload(b"x"))).data == b"healthy:x"
        assert pool.is_closed
    finally:
        await close_all(servers)

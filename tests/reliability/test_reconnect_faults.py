"""The reconnecting client through the fault-injection proxy (issue 6, items 3 and 5).

Many concurrent request/responses run while the proxy cuts (mid-frame included),
resets and stalls the connection at least 50 times.  Every request must either
succeed or fail with ConnectionLostError, and no request may ever run twice on
the server: the client re-sends only what no connection could have delivered.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections import Counter

import aiorsocket
from aiorsocket import ClientState, Payload, ReconnectPolicy, StateChange
from aiorsocket.errors import ConnectionLostError
from reliability.fault_proxy import Fault, FaultPlan, FaultProxy

WORKERS = 32
TARGET_DISCONNECTS = 60
MIN_REQUESTS = 10_000
MAX_REQUESTS = 60_000
MAX_SECONDS = 60.0


class Ledger(aiorsocket.RequestHandler):
    """Echoes each request id and counts how many times each one ran."""

    def __init__(self) -> None:
        self.runs: Counter[bytes] = Counter()

    async def request_response(self, payload: Payload) -> Payload:
        self.runs[payload.data] += 1
        return Payload(payload.data)


async def test_reconnecting_client_survives_forced_disconnects_and_never_runs_a_request_twice() -> None:
    loop = asyncio.get_running_loop()
    handler = Ledger()
    plan = FaultPlan(
        seed=6,
        cut_after=(200, 8_000),
        weights={Fault.CUT: 1.0, Fault.RESET: 2.0, Fault.STALL: 1.0},
        stall_for=(0.005, 0.05),
        max_faults=500,
        max_duration=MAX_SECONDS,
    )
    policy = ReconnectPolicy(initial_backoff=0.002, max_backoff=0.05)
    changes: list[tuple[float, StateChange]] = []
    outcomes: dict[int, str] = {}
    ids = itertools.count()
    deadline = loop.time() + MAX_SECONDS

    async with (
        aiorsocket.serve(handler, "tcp://127.0.0.1:0") as server,
        FaultProxy("127.0.0.1", server.port, plan) as proxy,
        aiorsocket.connect(
            proxy.uri, reconnect=policy, on_state_change=lambda c: changes.append((loop.time(), c))
        ) as client,
    ):

        def enough() -> bool:
            if len(outcomes) >= MAX_REQUESTS or loop.time() > deadline:
                return True
            return proxy.stats.disconnects_forced >= TARGET_DISCONNECTS and len(outcomes) >= MIN_REQUESTS

        async def worker() -> None:
            while not enough():
                request_id = next(ids)
                data = b"%d" % request_id
                try:
                    reply = await client.request_response(Payload(data))
                except ConnectionLostError:
                    outcomes[request_id] = "lost"
                    continue
                assert reply.data == data
                outcomes[request_id] = "ok"

        started = loop.time()
        await asyncio.gather(*(worker() for _ in range(WORKERS)))
        elapsed = loop.time() - started

        proxy.stop_faults()
        await client.wait_connected()
        # Faults over: the same client serves a last burst without a single failure.
        tail = await asyncio.gather(*(client.request_response(Payload(b"tail-%d" % i)) for i in range(200)))
        assert [reply.data for reply in tail] == [b"tail-%d" % i for i in range(200)]
        assert client.state is ClientState.CONNECTED

    ok = [request_id for request_id, outcome in outcomes.items() if outcome == "ok"]
    lost = [request_id for request_id, outcome in outcomes.items() if outcome == "lost"]
    assert proxy.stats.disconnects_forced >= 50, proxy.stats
    assert client.stats.disconnects >= 50
    assert len(outcomes) >= MIN_REQUESTS
    # Never twice: nothing that may have run was sent again.
    assert max(handler.runs.values()) == 1
    # Every success ran exactly once; a lost request ran at most once.
    assert all(handler.runs[b"%d" % request_id] == 1 for request_id in ok)
    assert sum(handler.runs[b"%d" % request_id] for request_id in lost) <= len(lost)
    # Requests made while no connection was usable waited for the next one and succeeded.
    assert client.stats.held > 0

    recoveries = [
        later_time - time
        for (time, change), (later_time, later) in itertools.pairwise(changes)
        if change.state is ClientState.DISCONNECTED and later.state is ClientState.CONNECTING
    ]
    reconnects = [
        connected_time - lost_time
        for (lost_time, lost_change), (connected_time, connected) in zip(changes, changes[2:], strict=False)
        if lost_change.state is ClientState.DISCONNECTED and connected.state is ClientState.CONNECTED
    ]
    print(
        f"\nreconnect under faults: {len(outcomes)} requests in {elapsed:.1f} s, {len(ok)} ok, "
        f"{len(lost)} lost with their connection (ran on the server: "
        f"{sum(handler.runs[b'%d' % i] for i in lost)}), {client.stats.held} held for a new connection; "
        f"{proxy.stats.disconnects_forced} forced disconnects "
        f"({sum(1 for f in proxy.stats.faults if f.fault is Fault.CUT)} cuts, "
        f"{sum(1 for f in proxy.stats.faults if f.fault is Fault.RESET)} resets), "
        f"{proxy.stats.stalls} stalls, {proxy.stats.connections} connections, "
        f"{proxy.stats.bytes_up} B up / {proxy.stats.bytes_down} B down; "
        f"backoff before reconnecting median {statistics.median(recoveries) * 1000:.1f} ms, "
        f"loss-to-connected median {statistics.median(reconnects) * 1000:.1f} ms, "
        f"max {max(reconnects) * 1000:.1f} ms"
    )

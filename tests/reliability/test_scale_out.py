"""Scale-out (issue 6, item 7): three server processes behind a real nginx, then the same three
with the load-balanced client and no proxy.

* nginx (Debian's, with its stream module) is an L4 proxy on loopback, run as
  :mod:`reliability.scale_out_support` describes: its own config and files, a listening socket this
  test opens and hands over, the system's nginx service never touched.
* Many reconnecting clients send request/responses through it; each backend names itself in its
  replies and counts what it served.  One backend is killed (SIGKILL) mid-run: the clients whose
  connection went through it reconnect, and nginx sends them to the survivors.
* The load-balanced clients connect to the three backends directly; the dead one is evicted,
  restarted on its port, and rejoins the rotation.

Every request either succeeds or fails with ConnectionLostError (only the ones in flight on the
killed backend may), and no backend ever sees a request twice.  The printed lines give the spread
per backend and the recovery times.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiorsocket
from aiorsocket import ClientState, LoadBalancedRSocket, Payload, ReconnectPolicy, StateChange
from aiorsocket.errors import ConnectionLostError
from aiorsocket.reconnect import ReconnectingRSocket
from reliability.scale_out_support import STREAM_MODULE, nginx, start_server_process, stop_process

SERVER = Path(__file__).parent / "servers" / "counting_server.py"
POLICY = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.2)
NAMES = ("b0", "b1", "b2")
VICTIM = "b1"
STEP = 15.0  # seconds any one phase may take; every wait is bounded by it
REQUEST_LIMIT = 10.0


@dataclass
class Backend:
    name: str
    port: int
    process: asyncio.subprocess.Process

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"


async def start_backend(name: str, port: int = 0) -> Backend:
    process, bound = await start_server_process(SERVER, "--name", name, "--port", str(port))
    return Backend(name, bound, process)


@asynccontextmanager
async def running_backends() -> AsyncIterator[dict[str, Backend]]:
    backends = dict(zip(NAMES, await asyncio.gather(*(start_backend(name) for name in NAMES)), strict=True))
    try:
        yield backends
    finally:
        await asyncio.gather(*(stop_process(backend.process) for backend in backends.values()))


async def served(backend: Backend) -> tuple[int, int]:
    """What the backend says it served, and how many duplicates it saw (asked directly, no proxy)."""
    async with aiorsocket.connect(backend.uri) as rsocket:
        reply = await rsocket.request_response(Payload(b"stats"))
    count, duplicates = reply.data.split()
    return int(count), int(duplicates)


def nginx_config(workdir: Path, listen_port: int, backend_ports: list[int]) -> str:
    module = f"load_module {STREAM_MODULE};" if STREAM_MODULE.exists() else ""
    upstreams = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in backend_ports
    )
    return f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log notice;
{module}
events {{ worker_connections 1024; }}
stream {{
    upstream rsocket_backends {{
{upstreams}
    }}
    server {{
        listen 127.0.0.1:{listen_port};
        proxy_pass rsocket_backends;
        proxy_connect_timeout 1s;
        proxy_timeout 10m;
    }}
}}
"""


@asynccontextmanager
async def nginx_proxy(workdir: Path, backend_ports: list[int]) -> AsyncIterator[tuple[int, Path]]:
    async with nginx(workdir, lambda port: nginx_config(workdir, port, backend_ports)) as proxy:
        yield proxy.port, proxy.error_log


@dataclass
class ClientRun:
    """One client's outcomes, timestamped with the event loop's clock."""

    successes: list[tuple[float, str]] = field(default_factory=list)
    lost: int = 0
    changes: list[tuple[float, StateChange]] = field(default_factory=list)

    def after(self, moment: float) -> Counter[str]:
        return Counter(backend for time, backend in self.successes if time > moment)


class Phases:
    """Wakes the test when the clients' progress meets the condition of the current phase."""

    def __init__(self) -> None:
        self.condition: Callable[[], bool] = lambda: False
        self.reached = asyncio.Event()

    def check(self) -> None:
        if not self.reached.is_set() and self.condition():
            self.reached.set()

    async def until(self, condition: Callable[[], bool], log: Path | None = None) -> None:
        self.reached.clear()
        self.condition = condition
        self.check()
        try:
            async with asyncio.timeout(STEP):
                await self.reached.wait()
        except TimeoutError:
            raise AssertionError(f"phase not reached within {STEP} s\n{tail(log)}") from None


def tail(log: Path | None) -> str:
    """The end of nginx's log, to explain a stalled phase."""
    return log.read_text()[-2000:] if log is not None and log.exists() else ""


async def drive(
    request: Callable[[Payload], Awaitable[Payload]],
    run: ClientRun,
    ids: itertools.count[int],
    phases: Phases,
    stop: asyncio.Event,
) -> None:
    """Sequential request/responses with unique ids until ``stop``; each one bounded in time."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        data = b"%d" % next(ids)
        try:
            async with asyncio.timeout(REQUEST_LIMIT):
                reply = await request(Payload(data))
        except ConnectionLostError:
            run.lost += 1
            continue
        backend, _, echoed = reply.data.partition(b":")
        assert echoed == data
        run.successes.append((loop.time(), backend.decode()))
        phases.check()


def shares(counts: Counter[str]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{name} {counts[name]} ({100 * counts[name] / total:.0f}%)" for name in NAMES)


def total(runs: list[ClientRun], since: float = 0.0, until: float = float("inf")) -> Counter[str]:
    counts: Counter[str] = Counter()
    for run in runs:
        counts.update(backend for time, backend in run.successes if since < time <= until)
    return counts


async def test_three_backends_behind_nginx_spread_the_load_and_survive_one_dying(tmp_path: Path) -> None:
    clients_count = 24
    loop = asyncio.get_running_loop()
    async with (
        running_backends() as backends,
        nginx_proxy(tmp_path, [b.port for b in backends.values()]) as (port, log),
    ):
        runs = [ClientRun() for _ in range(clients_count)]
        clients: list[ReconnectingRSocket] = [
            await aiorsocket.connect(
                f"tcp://127.0.0.1:{port}",
                reconnect=POLICY,
                on_state_change=lambda change, run=run: run.changes.append((loop.time(), change)),
            )
            for run in runs
        ]
        phases, stop, ids = Phases(), asyncio.Event(), itertools.count()
        workers = [
            asyncio.ensure_future(drive(client.request_response, run, ids, phases, stop))
            for client, run in zip(clients, runs, strict=True)
        ]
        try:
            await phases.until(lambda: sum(len(r.successes) for r in runs) >= 4_000, log)
            killed_at = loop.time()
            backends[VICTIM].process.kill()
            await backends[VICTIM].process.wait()
            await phases.until(lambda: all(sum(r.after(killed_at).values()) >= 100 for r in runs), log)
        finally:
            stop.set()
            await asyncio.gather(*workers)
        for client in clients:
            assert client.state is ClientState.CONNECTED
            await client.aclose()
        survivors = {name: await served(backends[name]) for name in NAMES if name != VICTIM}

    before, after = total(runs, until=killed_at), total(runs, since=killed_at)
    # nginx balances connections; the requests follow each connection's pace.
    connections = Counter(run.successes[0][1] for run in runs)
    affected = [
        run
        for run in runs
        if any(t > killed_at and c.state is ClientState.DISCONNECTED for t, c in run.changes)
    ]
    recovery = [
        next(
            t
            for t, _ in run.successes
            if t > max(t for t, c in run.changes if c.state is ClientState.CONNECTED)
        )
        - killed_at
        for run in affected
    ]
    print(
        f"\nnginx, {clients_count} reconnecting clients: connections {shares(connections)}; "
        f"requests before the kill {shares(before)}; "
        f"after killing {VICTIM}: {shares(after)}; {len(affected)} clients reconnected, "
        f"{sum(r.lost for r in runs)} requests lost in flight; recovery (kill to first reply on the new "
        f"connection) median {statistics.median(recovery) * 1000:.0f} ms, max {max(recovery) * 1000:.0f} ms; "
        f"survivors served {survivors}"
    )
    for name in NAMES:
        assert connections[name] >= clients_count // 6, connections
        assert before[name] >= 0.10 * sum(before.values()), before
    # Only a reply already on its way can come from the victim after the kill.
    assert after[VICTIM] <= clients_count
    assert affected, "nobody's connection went through the killed backend"
    assert all(run.lost <= 1 for run in runs), [run.lost for run in runs]
    for name, (count, duplicates) in survivors.items():
        assert duplicates == 0
        assert count == before[name] + after[name]


async def test_load_balanced_clients_evict_a_dead_backend_and_take_it_back(tmp_path: Path) -> None:
    clients_count, workers_per_client = 8, 4
    loop = asyncio.get_running_loop()
    async with running_backends() as backends:
        runs = [ClientRun() for _ in range(clients_count)]
        pools: list[LoadBalancedRSocket] = []
        target_changes: list[tuple[float, int, str, StateChange]] = []
        for index in range(clients_count):
            pool = LoadBalancedRSocket(
                [backend.uri for backend in backends.values()],
                strategy=aiorsocket.WeightedLeastOutstanding(rng=random.Random(index)),
                reconnect=POLICY,
                on_target_change=lambda uri, change, index=index: target_changes.append(
                    (loop.time(), index, uri, change)
                ),
            )
            pool.start()
            pools.append(pool)
        async with asyncio.timeout(STEP):
            for pool in pools:
                await pool.wait_targets(3)
        phases, stop, ids = Phases(), asyncio.Event(), itertools.count()
        workers = [
            asyncio.ensure_future(drive(pool.request_response, run, ids, phases, stop))
            for pool, run in zip(pools, runs, strict=True)
            for _ in range(workers_per_client)
        ]
        victim_uri = backends[VICTIM].uri
        try:
            await phases.until(lambda: sum(len(r.successes) for r in runs) >= 4_000)
            killed_at = loop.time()
            backends[VICTIM].process.kill()
            await backends[VICTIM].process.wait()
            await phases.until(lambda: all(sum(r.after(killed_at).values()) >= 100 for r in runs))
            backends[VICTIM] = await start_backend(VICTIM, backends[VICTIM].port)
            restarted_at = loop.time()
            await phases.until(lambda: all(r.after(restarted_at)[VICTIM] >= 20 for r in runs))
        finally:
            stop.set()
            await asyncio.gather(*workers)
        for pool in pools:
            await pool.aclose()
        counts = {name: await served(backends[name]) for name in NAMES}

    before = total(runs, until=killed_at)
    down = total(runs, since=killed_at, until=restarted_at)
    back = total(runs, since=restarted_at)

    def first_change(index: int, state: ClientState, since: float) -> float:
        """When client ``index`` first saw the victim reach ``state`` after ``since``, relative to it."""
        return (
            min(
                t
                for t, i, uri, change in target_changes
                if i == index and uri == victim_uri and t > since and change.state is state
            )
            - since
        )

    evicted = [first_change(i, ClientState.DISCONNECTED, killed_at) for i in range(clients_count)]
    rejoined = [first_change(i, ClientState.CONNECTED, restarted_at) for i in range(clients_count)]
    lost = sum(run.lost for run in runs)
    print(
        f"\nload-balanced, {clients_count} clients x {workers_per_client} workers, "
        f"weighted least-outstanding: "
        f"before {shares(before)}; {VICTIM} down: {shares(down)}; {VICTIM} back: {shares(back)}; "
        f"{lost} requests lost in flight on {VICTIM}; evicted after the kill: median "
        f"{statistics.median(evicted) * 1000:.1f} ms, max {max(evicted) * 1000:.1f} ms; "
        f"rejoined after the restart: median "
        f"{statistics.median(rejoined) * 1000:.0f} ms, max {max(rejoined) * 1000:.0f} ms; served {counts}"
    )
    # Weighted least-outstanding sends less to a backend that answers slower, which one of three
    # processes on a loaded 2-core machine may well be: every backend takes part, not an even third.
    for name in NAMES:
        assert before[name] >= 0.05 * sum(before.values()), before
    assert down[VICTIM] <= clients_count * workers_per_client
    # Only requests in flight on the victim when it died can be lost, and none was re-sent.
    assert lost <= clients_count * workers_per_client
    for name, (count, duplicates) in counts.items():
        assert duplicates == 0
        if name != VICTIM:
            assert count == before[name] + down[name] + back[name]
    # The restarted victim served exactly what the clients saw from it.
    assert counts[VICTIM][0] == back[VICTIM] >= 20 * clients_count

"""Resumption behind a proxy (docs/scale-out.md, "Resumption behind a proxy", option 3): with
consistent hashing on a key the client puts in its WebSocket URL, a RESUME reaches the server process
that holds the session; with plain round robin it reaches another one and is refused.

* Three resumable backend processes (``servers/resumable_stream_server.py``) serve
  ``ws://127.0.0.1:<port>/rsocket``, and a real nginx proxies WebSocket in its http block, as the doc
  says: ``proxy_http_version 1.1``, the Upgrade/Connection headers, and
  ``hash $arg_session consistent;`` over the three.  Its access log names, for every proxied
  connection, the session key it saw in the URL and the backend it chose.
* Six resumable clients each connect to ``ws://127.0.0.1:<port>/rsocket?session=<random key>``
  through a fault proxy of their own (in front of nginx) and read one long stream of numbered items.
  At fixed item counts the proxy first swallows what is in flight, so that something is certainly
  lost with the link, and then breaks the link: the client reconnects through nginx and RESUMEs.
* Every item names the pid of the process that produced it, every backend reports the RESUMEs each
  session it holds accepted, and nginx's access log shows where each connection of each key went.

The contrast: two backends in plain round robin (no hash), one client.  Its SETUP goes to the first
backend, its one RESUME to the second, which does not know the token: REJECTED_RESUME, "unknown resume
token (RE-5)", and the session is over (RE-8: no second attempt) while the first backend still holds it.

Every wait is bounded (``STEP``); none is a timed sleep.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import aiorsocket
from aiorsocket import Payload, ReconnectPolicy, RejectedResumeError, ResumeConfig, ResumeState, RSocket
from reliability.fault_proxy import Fault, FaultProxy
from reliability.scale_out_support import Nginx, nginx, start_server_process, stop_process

SERVER = Path(__file__).parent / "servers" / "resumable_stream_server.py"
STEP = 15.0
"""Seconds any one phase may take."""
SESSION_LIFETIME = 30.0
"""Longer than the whole test: no session may expire, so a refused RESUME can only mean the wrong backend."""
RESUME = ResumeConfig(
    session_lifetime=SESSION_LIFETIME,
    backoff=ReconnectPolicy(initial_backoff=0.01, max_backoff=0.2, connect_timeout=5.0),
)
CLIENTS_PER_BACKEND = 2
ITEMS = 3_000
CUT_AT = (500, 1_000, 1_500, 2_000, 2_500)
"""Item counts at which each client's link is broken.  500 apart, well over the 64-item request window,
so each milestone is reached over the link resumed after the previous cut; the last leaves items to go."""
LIMIT_RATE = 64
MAX_DRAWS = 300
"""Random keys to try while looking for keys that spread the clients evenly over the backends."""


@dataclass
class Backend:
    process: asyncio.subprocess.Process
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        """As nginx writes it in ``$upstream_addr``."""
        return f"127.0.0.1:{self.port}"

    async def stats(self) -> dict[str, Any]:
        """What the backend says of the sessions it holds; asked directly, not through nginx."""
        async with aiorsocket.connect(f"ws://127.0.0.1:{self.port}/rsocket") as rsocket:
            reply = await rsocket.request_response(Payload(b"stats"))
        stats: dict[str, Any] = json.loads(reply.data)
        assert stats["pid"] == self.pid
        return stats


@asynccontextmanager
async def running_backends(count: int, stop: signal.Signals = signal.SIGTERM) -> AsyncIterator[list[Backend]]:
    started = await asyncio.gather(
        *(start_server_process(SERVER, "--lifetime", str(SESSION_LIFETIME)) for _ in range(count))
    )
    backends = [Backend(process, port) for process, port in started]
    try:
        yield backends
    finally:
        await asyncio.gather(*(stop_process(backend.process, stop) for backend in backends))


def websocket_proxy_config(workdir: Path, listen_port: int, backends: list[Backend], balance: str) -> str:
    """nginx proxying WebSocket in its http block, as docs/scale-out.md describes."""
    servers = "\n".join(f"        server {backend.address};" for backend in backends)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {workdir}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
daemon off;
worker_processes 1;
worker_shutdown_timeout 5s;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    # One line per proxied WebSocket connection, written when it ends: the key nginx read in the URL,
    # and the backend it picked.
    log_format routed '$arg_session $upstream_addr $status';
    access_log {workdir}/access.log routed;
{temp_paths}
    upstream rsocket_backends {{
        {balance}
{servers}
    }}
    server {{
        listen 127.0.0.1:{listen_port};
        location /rsocket {{
            proxy_pass http://rsocket_backends;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 10m;
            proxy_send_timeout 10m;
        }}
    }}
}}
"""


def routes(workdir: Path) -> dict[str, list[str]]:
    """From nginx's access log: the backend address of every connection, by session key, in order.

    Complete only once nginx has quit: a connection is logged when it ends.
    """
    found: dict[str, list[str]] = {}
    for line in (workdir / "access.log").read_text().splitlines():
        key, upstream, status = line.split()
        assert status == "101", line  # every connection was a WebSocket upgrade
        found.setdefault(key, []).append(upstream)
    return found


def session_uri(port: int, key: str) -> str:
    return f"ws://127.0.0.1:{port}/rsocket?session={key}"


async def whoami(rsocket: RSocket) -> int:
    reply = await rsocket.request_response(Payload(b"whoami"))
    return int(reply.data)


async def spread_keys(proxy: Nginx, backends: list[Backend], per_backend: int) -> dict[str, int]:
    """Random session keys, ``per_backend`` of them landing on each backend (key -> backend pid).

    The keys stay random; only which ones are kept is chosen, so that every backend holds sessions and
    a RESUME that went astray would have somewhere wrong to go.  Probes are plain (not resumable)
    connections straight to nginx; the clients later check that their key lands on the same backend.
    """
    wanted = {backend.pid: per_backend for backend in backends}
    keys: dict[str, int] = {}
    for _ in range(MAX_DRAWS):
        key = secrets.token_hex(8)
        async with aiorsocket.connect(session_uri(proxy.port, key)) as probe:
            pid = await whoami(probe)
        if wanted[pid]:
            wanted[pid] -= 1
            keys[key] = pid
            if not any(wanted.values()):
                return keys
    raise AssertionError(f"{MAX_DRAWS} random keys did not give {per_backend} per backend: {wanted} missing")


@dataclass
class Client:
    key: str
    proxy: FaultProxy
    rsocket: RSocket | None = None
    first_backend: int = 0
    items: list[tuple[int, int]] = field(default_factory=list)
    """(pid, index) of each item, as received."""
    swallowed: list[tuple[int, int]] = field(default_factory=list)
    """Bytes (up, down) lost with each broken link."""


async def break_link(proxy: FaultProxy, fault: Fault, *, after_request: bool) -> tuple[int, int]:
    """Swallow what either side sends until at least one byte is lost, then break the link.

    Swallowing first makes the cut lose something for sure, which RESUME has to make up for.  At once,
    it catches the client's next REQUEST_N (the client's frames must be sent again).  With
    ``after_request`` it first lets that REQUEST_N through, so that it catches the items the server
    sends in answer (the server's frames must be sent again); should they beat us to it, the next
    REQUEST_N is caught instead.  One of the two always comes: either items are in flight, or the
    client, reading the ones it has, asks for more.
    """
    if after_request:
        # Nothing reports a forwarded byte, so poll: one loop turn at a time, bounded.
        loop = asyncio.get_running_loop()
        forwarded, deadline = proxy.stats.bytes_up, loop.time() + STEP
        while proxy.stats.bytes_up == forwarded:
            assert loop.time() < deadline, f"the client asked for no more items within {STEP} s"
            await asyncio.sleep(0)
    up, down = proxy.stats.swallowed_up, proxy.stats.swallowed_down
    assert proxy.swallow_all() == 1
    waits = [
        asyncio.ensure_future(proxy.wait_swallowed(up=up + 1)),
        asyncio.ensure_future(proxy.wait_swallowed(down=down + 1)),
    ]
    try:
        done, _ = await asyncio.wait(waits, timeout=STEP, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    assert done, f"nothing in flight to lose within {STEP} s"
    assert proxy.cut_all(fault) == 1
    return proxy.stats.swallowed_up - up, proxy.stats.swallowed_down - down


async def read_stream(client: Client) -> None:
    """Read the whole stream, breaking the link at each ``CUT_AT`` milestone without pausing the reader.

    The cuts alternate: a FIN that loses the client's request for more, an RST that loses the items.
    """
    assert client.rsocket is not None
    cuts: list[asyncio.Future[tuple[int, int]]] = []
    async for item in client.rsocket.request_stream(Payload(b"%d" % ITEMS), limit_rate=LIMIT_RATE):
        pid, index = (int(part) for part in item.data.split())
        client.items.append((pid, index))
        if len(client.items) in CUT_AT:
            odd = len(cuts) % 2 == 1
            fault = Fault.RESET if odd else Fault.CUT
            cuts.append(asyncio.ensure_future(break_link(client.proxy, fault, after_request=odd)))
    client.swallowed = list(await asyncio.gather(*cuts))


async def read_indexes(stream: AsyncIterator[Payload], into: list[int]) -> None:
    """Append the index of each item to ``into``, up to the stream's end or error."""
    async for item in stream:
        # One at a time, not extend(): the items before an error must be kept.
        into.append(int(item.data.split()[1]))  # noqa: PERF401


async def test_re11_resume_behind_nginx_reaches_the_server_holding_the_session(tmp_path: Path) -> None:
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        backends = await stack.enter_async_context(running_backends(3))
        by_pid = {backend.pid: backend for backend in backends}
        proxy = await stack.enter_async_context(
            nginx(
                tmp_path,
                lambda port: websocket_proxy_config(
                    tmp_path, port, backends, "hash $arg_session consistent;"
                ),
            )
        )
        async with asyncio.timeout(STEP):
            keys = await spread_keys(proxy, backends, CLIENTS_PER_BACKEND)
        clients = [Client(key, FaultProxy("127.0.0.1", proxy.port)) for key in keys]
        async with asyncio.timeout(STEP):
            for client in clients:
                await stack.enter_async_context(client.proxy)
                # The key travels twice: in the URL for nginx to hash, in SETUP for the backend's report.
                client.rsocket = await stack.enter_async_context(
                    aiorsocket.connect(
                        session_uri(client.proxy.port, client.key),
                        setup_payload=Payload(client.key.encode()),
                        resume=RESUME,
                    )
                )
                client.first_backend = await whoami(client.rsocket)
        async with asyncio.timeout(STEP):
            await asyncio.gather(*(read_stream(client) for client in clients))
        async with asyncio.timeout(STEP):
            for client in clients:
                assert client.rsocket is not None
                # The session is still usable once all the cuts are behind it.
                assert await client.rsocket.request_response(Payload(b"after")) == Payload(b"after")
            reports = {backend.pid: await backend.stats() for backend in backends}
            final = {c.key: c.rsocket.resume_stats for c in clients if c.rsocket is not None}
            for client in clients:
                assert client.rsocket is not None
                await client.rsocket.aclose()
        # Graceful quit: nginx logs every connection still open before it exits.
        await proxy.quit()
        logged = routes(tmp_path)
    elapsed = time.monotonic() - started

    cuts = len(CUT_AT)
    for client in clients:
        pid = keys[client.key]
        holder = by_pid[pid]
        # The clients' own connections land where the probes' did: the key alone decides.
        assert client.first_backend == pid
        # Every item exactly once, in order, and all produced by the one process that took the SETUP:
        # through every RESUME, the stream never moved.
        assert client.items == [(pid, index) for index in range(ITEMS)]
        # Each cut lost something in flight, which RESUME made up for.
        assert len(client.swallowed) == cuts
        assert all(up + down > 0 for up, down in client.swallowed), client.swallowed
        stats = final[client.key]
        assert stats is not None
        assert (stats.state, stats.disconnects, stats.resumes) == (ResumeState.CONNECTED, cuts, cuts)
        # The holder accepted every one of this session's RESUMEs; no other backend heard of it.
        held = reports[pid]["sessions"][client.key]
        assert (held["resumes"], held["state"]) == (cuts, "connected"), held
        for other, report in reports.items():
            if other != pid:
                assert client.key not in report["sessions"], (client.key, report)
        # nginx saw the key in the URL (the WebSocket client kept the query string) and sent the probe,
        # the session's first connection and every resumed one to the same backend.
        assert logged[client.key] == [holder.address] * (2 + cuts), logged[client.key]
        assert client.proxy.stats.connections == 1 + cuts
    spread = Counter(keys.values())
    assert sorted(spread.values()) == [CLIENTS_PER_BACKEND] * len(backends), spread
    swallowed = [loss for client in clients for loss in client.swallowed]
    # Both directions had frames lost with a link and sent again by RESUME, not only one of them.
    assert any(up for up, _ in swallowed), swallowed
    assert any(down for _, down in swallowed), swallowed
    print(
        f"\nnginx hash $arg_session consistent, {len(backends)} backends, {len(clients)} clients "
        f"({CLIENTS_PER_BACKEND} per backend, kept from {len(logged)} random keys): "
        f"{ITEMS} items each, {cuts} cuts each, all {len(clients) * cuts} RESUMEs reached the session's "
        f"backend; lost in flight per cut: {sum(u > 0 for u, _ in swallowed)} with client bytes, "
        f"{sum(d > 0 for _, d in swallowed)} with server bytes; {elapsed:.1f} s"
    )


async def test_re5_resume_behind_round_robin_reaches_another_server_and_is_rejected(tmp_path: Path) -> None:
    """Without the hash, nginx alternates between two backends: the RESUME, the one connection after
    the SETUP's, goes to the backend that never saw the session."""
    key = secrets.token_hex(8)
    states: list[ResumeState] = []
    reached_closed = asyncio.Event()

    def on_state(state: ResumeState) -> None:
        states.append(state)
        if state is ResumeState.CLOSED:
            reached_closed.set()

    async with AsyncExitStack() as stack:
        # Killed at the end: the holder keeps the detached session and its open stream, and a graceful
        # stop would wait its whole grace period for a stream that can never finish.
        backends = await stack.enter_async_context(running_backends(2, signal.SIGKILL))
        by_pid = {backend.pid: backend for backend in backends}
        # No balancing directive: nginx's default, round robin.
        proxy = await stack.enter_async_context(
            nginx(tmp_path, lambda port: websocket_proxy_config(tmp_path, port, backends, ""))
        )
        cutter = await stack.enter_async_context(FaultProxy("127.0.0.1", proxy.port))
        rsocket = await stack.enter_async_context(
            aiorsocket.connect(
                session_uri(cutter.port, key),
                setup_payload=Payload(key.encode()),
                resume=ResumeConfig(
                    session_lifetime=SESSION_LIFETIME, backoff=RESUME.backoff, on_state=on_state
                ),
            )
        )
        async with asyncio.timeout(STEP):
            holder = by_pid[await whoami(rsocket)]
            stream = rsocket.request_stream(Payload(b"%d" % ITEMS), limit_rate=LIMIT_RATE)
            received = [int((await anext(stream)).data.split()[1]) for _ in range(100)]
            assert cutter.cut_all() == 1
            await reached_closed.wait()
        async with asyncio.timeout(STEP):
            # Items already buffered come first; the refusal follows them.
            with pytest.raises(RejectedResumeError, match=r"unknown resume token \(RE-5\)"):
                await read_indexes(stream, received)
            # The session is over: without ``reconnect=`` nothing sets up a new one.
            with pytest.raises(RejectedResumeError, match=r"unknown resume token \(RE-5\)"):
                await rsocket.request_response(Payload(b"after"))
            final = rsocket.resume_stats
            reports = {backend.pid: await backend.stats() for backend in backends}
        await proxy.quit()
        logged = routes(tmp_path)

    other = next(backend for backend in backends if backend is not holder)
    assert received == list(range(len(received)))
    # RE-8: one RESUME, refused, and no second attempt.
    assert cutter.stats.connections == 2
    assert final is not None
    assert (final.state, final.disconnects, final.resumes) == (ResumeState.CLOSED, 1, 0), final
    assert states == [ResumeState.DISCONNECTED, ResumeState.RESUMING, ResumeState.CLOSED], states
    # The SETUP's connection went to the holder and the RESUME's to the other backend.
    assert logged[key] == [holder.address, other.address], logged
    # The holder still keeps the session, waiting for the RESUME that went elsewhere; the backend that
    # refused it never had it.
    assert reports[holder.pid]["sessions"][key]["resumes"] == 0, reports
    assert reports[holder.pid]["resumable_sessions"] == 1
    assert key not in reports[other.pid]["sessions"]
    assert reports[other.pid]["resumable_sessions"] == 0

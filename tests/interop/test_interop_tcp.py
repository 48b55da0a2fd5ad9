"""Interop over TCP with real peers, both directions.

* peer client → our conformance server (examples/conformance_server.py in its own process):
  rsocket-js 0.0.27, rsocket-js 1.0.0-alpha.3 and rsocket-py run every scenario, plain and routed.
* our client → peer server: the same scenarios driven by aiorsocket against each peer's server.

Peer limitations are pinned, never skipped: rsocket-js 1.0.0-alpha.3 cannot send METADATA_PUSH
("Method not implemented.") and drops the connection when it receives one (peers.md).
A missing node / npm package / rsocket-py fails these tests.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.errors import ApplicationError, ConnectionLostError, RejectedSetupError
from aiorsocket.extensions import COMPOSITE_METADATA_MIME, build_composite_metadata
from interop.harness import PEERS, SCENARIOS, run_peer_client, start_peer_server

pytestmark = pytest.mark.interop

CONFORMANCE_SERVER = Path(__file__).resolve().parents[2] / "examples" / "conformance_server.py"
BIG = bytes(i % 251 for i in range(1 << 20))
#: METADATA_PUSH is broken in rsocket-js 1.0.0-alpha.3 itself (peers.md, harness self-check).
JS_V1_PUSH_BUG = "unsupported by peer"


# --- peer client → our server ---------------------------------------------------------------


def _start_conformance_server(*args: str) -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, str(CONFORMANCE_SERVER), "--uri", "tcp://127.0.0.1:0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("READY "), (line, proc.stderr.read().decode() if proc.stderr else "")
        yield int(line.split()[1])
        assert proc.poll() is None, "our conformance server died during the tests"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def our_server() -> Iterator[int]:
    # Fragment like rsocket-java's default MTU-sized deployments, so 1 MiB answers go in pieces.
    yield from _start_conformance_server("--fragment-size", "65536")


@pytest.fixture(scope="module")
def our_rejecting_server() -> Iterator[int]:
    yield from _start_conformance_server("--reject-setup")


@pytest.mark.parametrize("route_mode", [False, True], ids=["plain", "routed"])
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "reject_setup"])
@pytest.mark.parametrize("peer", PEERS)
def test_peer_client_against_our_server(our_server: int, peer: str, scenario: str, route_mode: bool) -> None:
    result = run_peer_client(peer, our_server, scenario, route_mode=route_mode)
    if peer == "js_v1" and scenario == "metadata_push":
        assert not result["ok"]
        assert JS_V1_PUSH_BUG in result["error"], result
        return
    assert result["ok"], result
    if scenario in ("stream", "channel"):
        assert result["credit_violations"] == 0, result
    if scenario == "error":
        assert (result["code"], result["message"]) == (0x201, "boom")


@pytest.mark.parametrize("peer", PEERS)
def test_su7_peer_client_sees_our_rejected_setup(our_rejecting_server: int, peer: str) -> None:
    result = run_peer_client(peer, our_rejecting_server, "reject_setup")
    assert result["ok"], repr(result)
    assert (result["code"], result["message"]) == (0x003, "go away")


# --- our client → peer server -----------------------------------------------------------------


@pytest.fixture(scope="module", params=PEERS)
def peer_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    with start_peer_server(request.param) as port:
        yield request.param, port


@pytest.fixture(params=[False, True], ids=["plain", "routed"])
async def rs(
    request: pytest.FixtureRequest, peer_server: tuple[str, int]
) -> AsyncIterator[tuple[aiorsocket.RSocket, bool]]:
    _, port = peer_server
    routed: bool = request.param
    async with aiorsocket.connect(
        f"tcp://127.0.0.1:{port}",
        metadata_mime=COMPOSITE_METADATA_MIME if routed else "application/octet-stream",
        data_mime="text/plain",
        fragment_size=65536,
        keepalive_interval=0.1,
        max_lifetime=0.6,
    ) as client:
        yield client, routed


def req(data: bytes | str, route: str, routed: bool, metadata: bytes | None = None) -> Payload:
    raw = data.encode() if isinstance(data, str) else data
    if routed:
        return Payload(raw, build_composite_metadata(route=route))
    return Payload(raw, metadata)


async def test_rr_echo(rs: tuple[aiorsocket.RSocket, bool]) -> None:
    client, routed = rs
    reply = await client.request_response(req("hello", "echo", routed, b"meta"))
    assert reply.data == b"echo:hello"
    if not routed:
        assert reply.metadata == b"meta"


async def test_rs_stream_in_small_request_n_batches(rs: tuple[aiorsocket.RSocket, bool]) -> None:
    client, routed = rs
    items = [p.data async for p in client.request_stream(req("100", "stream", routed), limit_rate=10)]
    assert items == [str(i).encode() for i in range(100)]


async def test_rs3_stream_cancel_midway_then_connection_still_serves(
    rs: tuple[aiorsocket.RSocket, bool],
) -> None:
    client, routed = rs
    stream = client.request_stream(req("1000", "stream", routed), limit_rate=5)
    taken = []
    async for item in stream:
        taken.append(item.data)
        if len(taken) == 25:
            break
    stream.cancel()
    assert taken == [str(i).encode() for i in range(25)]
    assert (await client.request_response(req("after", "echo", routed))).data == b"echo:after"


async def test_rc_channel_echo(rs: tuple[aiorsocket.RSocket, bool]) -> None:
    client, routed = rs

    async def outbound() -> AsyncIterator[Payload]:
        for i in range(1, 50):
            yield Payload(b"c%d" % i)

    first = req("c0", "channel", routed)
    got = [p.data async for p in client.request_channel(first, outbound(), limit_rate=8)]
    assert got == [b"c%d" % i for i in range(50)]


async def test_ff_fire_and_forget_then_count(rs: tuple[aiorsocket.RSocket, bool]) -> None:
    client, routed = rs
    for _ in range(3):
        await client.fire_and_forget(req("f", "fnf", routed))
    # Per-connection count; the peers handle frames of one connection in order.
    assert (await client.request_response(req("count", "count", routed))).data == b"3"


async def test_mp_metadata_push_then_pushcount(
    rs: tuple[aiorsocket.RSocket, bool], peer_server: tuple[str, int]
) -> None:
    client, routed = rs
    peer, _ = peer_server
    await client.metadata_push(b"pushed-1")
    await client.metadata_push(b"pushed-2")
    if peer == "js_v1":
        # rsocket-js 1.0.0-alpha.3 throws inside its frame decoder and drops the connection.
        with pytest.raises(ConnectionLostError):
            await client.request_response(req("pushcount", "pushcount", routed))
        return
    assert (await client.request_response(req("pushcount", "pushcount", routed))).data == b"2"


async def test_application_error_code_and_message(rs: tuple[aiorsocket.RSocket, bool]) -> None:
    client, routed = rs
    with pytest.raises(ApplicationError) as info:
        await client.request_response(req("error", "error", routed))
    assert (info.value.code, info.value.message) == (0x201, "boom")


async def test_fr_one_mebibyte_each_way(rs: tuple[aiorsocket.RSocket, bool]) -> None:
    client, routed = rs
    reply = await client.request_response(req(BIG, "echo", routed))
    assert reply.data == b"echo:" + BIG


async def test_two_hundred_concurrent_requests(rs: tuple[aiorsocket.RSocket, bool]) -> None:
    client, routed = rs
    replies = await asyncio.gather(
        *(client.request_response(req(f"r{i}", "echo", routed)) for i in range(200))
    )
    assert [r.data for r in replies] == [f"echo:r{i}".encode() for i in range(200)]


async def test_ka_keepalive_answered_for_many_intervals(rs: tuple[aiorsocket.RSocket, bool]) -> None:
    client, routed = rs
    # Our client sends KEEPALIVE every 0.1 s and gives up after 0.6 s of silence: staying
    # up for 1.5 s (15 intervals, 2.5 lifetimes) proves the peer answers them.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.5
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        assert not client.is_closed
    assert (await client.request_response(req("alive", "echo", routed))).data == b"echo:alive"


@pytest.mark.parametrize("peer", PEERS)
async def test_su7_rejected_setup_from_peer_server(peer: str) -> None:
    with start_peer_server(peer, reject_setup=True) as port:
        async with aiorsocket.connect(f"tcp://127.0.0.1:{port}") as client:
            with pytest.raises(RejectedSetupError) as info:
                await client.request_response(Payload(b"x"))
    # rsocket-js 0.0.27 prefixes the application's reason with its own words.
    assert "go away" in info.value.message

"""Leasing against rsocket-js 0.0.27, both directions (checklist §3.13, SU-9).

* its client (``peers/js_legacy/lease_client.js``) against our server, in this process: it honours
  our LEASE, gets ERROR[REJECTED] for a request past it, and grants a lease our server's requester
  honours;
* our client against its server (``peers/js_legacy/lease_server.js``): we honour its LEASE and
  grant one its requester honours, rejecting its request past it.

Peer behaviour pinned here (theirs, not ours; peers.md):

* its requester refuses a request past the lease itself, before anything is sent ("Missing leases.
  Expired: false, allowedRequests: 0"), and does not wait for a first LEASE ("Lease was not received
  yet");
* its responder answers a request past the lease with APPLICATION_ERROR (0x201), not REJECTED
  (LE-5);
* its client subscribes to its own lease sender before it writes SETUP, so a sender that grants at
  once puts the LEASE ahead of the SETUP, which our server rightly refuses (SU-2);
* a LEASE of 0 requests (legal, LE-3) fails its Lease constructor and takes the connection down,
  which is why our strategies never grant 0.

A missing node or npm package fails these tests (PeerUnavailableError), never skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest

import aiorsocket
from aiorsocket import (
    ConnectionSetup,
    FixedRateLease,
    LeaseConfig,
    LeaseGranter,
    LeaseStrategy,
    MissingLeaseError,
    Payload,
    RequestHandler,
    RSocket,
)
from aiorsocket.errors import ErrorCode
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
from interop.harness import PEERS_DIR, _node, require_peer
from support.handlers import RecordingEcho

pytestmark = pytest.mark.interop

JS_DIR: Final = PEERS_DIR / "js_legacy"
STEP: Final = 15.0
"""Seconds any one awaited step may take."""
TTL: Final = 60.0
APPLICATION_ERROR: Final = int(ErrorCode.APPLICATION_ERROR)
REJECTED: Final = int(ErrorCode.REJECTED)
PLAIN: Final = "application/octet-stream"


def granting(requests: int) -> FixedRateLease:
    """One lease of ``requests`` for the whole test: the next comes only after TTL."""
    return FixedRateLease(requests=requests, period=TTL, ttl=TTL)


@pytest.fixture(autouse=True)
def _js_legacy_installed() -> None:
    """Fail at once, never skip, when node or the rsocket-js 0.0.27 packages are missing."""
    require_peer("js_legacy")


def js_command(script: str, *args: str) -> list[str]:
    return [_node(), str(JS_DIR / script), *args]


async def run_js_client(port: int, scenario: str, *args: str) -> dict[str, Any]:
    """Run lease_client.js against 127.0.0.1:``port`` and return its JSON line."""
    cmd = js_command("lease_client.js", "--port", str(port), "--scenario", scenario, *args)
    cmd += ["--timeout-ms", str(int(STEP * 1000))]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(STEP * 2):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{' '.join(cmd)} did not finish within {STEP * 2:g} s") from None
    lines = out.decode().splitlines()
    assert proc.returncode == 0, f"lease_client.js exited with {proc.returncode}: {err.decode()[-2000:]}"
    assert lines, f"lease_client.js printed nothing: {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = err.decode()[-2000:]
    return result


@contextlib.asynccontextmanager
async def js_lease_server(*args: str) -> AsyncIterator[int]:
    """Run lease_server.js on a free port; yield the port."""
    cmd = js_command("lease_server.js", "--port", "0", *args)
    with tempfile.TemporaryFile() as stderr:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr
        )
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(STEP):
                line = (await proc.stdout.readline()).decode()
            assert line.startswith("READY "), f"no READY line from {' '.join(cmd)}: {line!r}"
            yield int(line.split()[1])
            assert proc.returncode is None, "lease_server.js died during the test"
        except BaseException as exc:
            stderr.seek(0)
            exc.add_note(f"lease_server.js stderr:\n{stderr.read().decode()[-2000:]}")
            raise
        finally:
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()


class Pong(RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        return Payload(b"pong:" + payload.data)


@contextlib.asynccontextmanager
async def our_server(
    lease: LeaseConfig | LeaseStrategy, handler: RequestHandler
) -> AsyncIterator[tuple[int, asyncio.Queue[RSocket]]]:
    accepted: asyncio.Queue[RSocket] = asyncio.Queue()

    async def acceptor(setup: ConnectionSetup, requester: RSocket) -> RequestHandler:
        accepted.put_nowait(requester)
        return handler

    async with aiorsocket.serve(acceptor, "tcp://127.0.0.1:0", lease=lease) as server:
        yield server.port, accepted


# --------------------------------------------------------------------------- js client -> our server


async def test_js_legacy_client_honours_our_lease() -> None:
    """LE-4 on their side, FR-7/D-18 on ours: one unit per request of each type, on both sides."""
    handler = RecordingEcho()
    async with our_server(granting(4), handler) as (port, accepted):
        result = await run_js_client(port, "honour")
        server_side = await accepted.get()
    assert result["ok"], result
    assert result["lease"] == {"ttl": int(TTL * 1000), "requests": 4}
    assert (result["response"], result["stream"], result["channel"]) == ("echo:one", ["0", "1"], ["ch"])
    # Refused by the peer itself: no code, because nothing reached us.
    assert result["extra"] == {
        "ok": False,
        "code": None,
        "message": "Missing leases. Expired: false, allowedRequests: 0",
    }
    assert sorted(handler.seen) == sorted([b"one", b"2", b"fnf", b"ch"])
    granted = server_side.granted_lease
    assert granted is not None
    assert (granted.allowed, granted.remaining) == (4, 0)


async def test_le5_our_server_rejects_a_js_legacy_request_beyond_the_lease() -> None:
    handler = RecordingEcho()
    async with our_server(granting(2), handler) as (port, _):
        result = await run_js_client(port, "overdraw")
    assert result["ok"], result
    outcomes = result["results"]
    assert sorted(o["data"] for o in outcomes if o["ok"]) == ["echo:r0", "echo:r1"]
    [refused] = [o for o in outcomes if not o["ok"]]
    assert refused["code"] == REJECTED
    assert refused["message"].startswith("lease exhausted: we granted 2 requests")
    assert sorted(handler.seen) == [b"r0", b"r1"]


async def test_su9_our_server_requester_honours_the_js_legacy_clients_lease() -> None:
    """The client-side responder grants (SU-9); our server's requester waits for it, then spends it."""
    outcomes: asyncio.Future[list[list[str]]] = asyncio.get_running_loop().create_future()

    class Report(RequestHandler):
        async def request_response(self, payload: Payload) -> Payload:
            return Payload(json.dumps(await outcomes).encode())

    async def call_client(requester: RSocket) -> None:
        seen: list[list[str]] = []
        for body in (b"q0", b"q1", b"q2"):
            try:
                seen.append(["ok", (await requester.request_response(Payload(body))).data.decode()])
            except MissingLeaseError as exc:
                seen.append(["missing", str(exc)])
        outcomes.set_result(seen)

    async with our_server(granting(5), Report()) as (port, accepted):
        client = asyncio.ensure_future(run_js_client(port, "serve", "--grant", "2"))
        async with asyncio.timeout(STEP):
            requester = await accepted.get()
        calls = asyncio.ensure_future(call_client(requester))
        result = await client
        assert result["ok"], result
        async with asyncio.timeout(STEP):
            await calls
    assert result["server_requests"] == ["q0", "q1"]
    assert result["report"][:2] == [["ok", "pong:q0"], ["ok", "pong:q1"]]
    assert result["report"][2][0] == "missing"
    assert result["report"][2][1].startswith("lease exhausted: the peer granted 2 requests")


async def test_js_legacy_client_granting_at_once_puts_its_lease_before_setup() -> None:
    """Their bug: LEASE ahead of SETUP.  We answer SU-2 (INVALID_SETUP) and never accept."""
    async with our_server(granting(5), Pong()) as (port, accepted):
        result = await run_js_client(port, "serve", "--grant", "2", "--grant-at-once")
        assert accepted.empty()
    assert not result["ok"], result


async def test_js_legacy_client_cannot_take_a_lease_of_zero_requests() -> None:
    """Their bug: LEASE(n=0) is legal (LE-3) but fails their Lease constructor, ending the connection."""

    class GrantZero(LeaseStrategy):
        async def run(self, granter: LeaseGranter) -> None:
            granter.grant(0, TTL)
            await asyncio.get_running_loop().create_future()

    handler = RecordingEcho()
    async with our_server(GrantZero(), handler) as (port, _):
        result = await run_js_client(port, "honour")
    assert not result["ok"], result
    assert handler.seen == []


# --------------------------------------------------------------------------- our client -> js server


async def test_our_client_honours_the_js_legacy_servers_lease() -> None:
    async with (
        js_lease_server("--grant", "4") as port,
        aiorsocket.connect(f"tcp://127.0.0.1:{port}", lease=LeaseConfig(first_lease_timeout=STEP)) as rs,
    ):
        # Sent at once: the request waits for the first LEASE (SU-9), which their library does not.
        assert await rs.request_response(Payload(b"a")) == Payload(b"echo:a")
        assert [p.data async for p in rs.request_stream(Payload(b"3"))] == [b"0", b"1", b"2"]
        await rs.fire_and_forget(Payload(b"f"))

        async def outbound() -> AsyncIterator[Payload]:
            yield Payload(b"c1")

        channel = rs.request_channel(Payload(b"c0"), outbound())
        assert [p.data async for p in channel] == [b"c0", b"c1"]
        with pytest.raises(MissingLeaseError, match=r"^lease exhausted: the peer granted 4 requests"):
            await rs.request_response(Payload(b"over"))
        lease = rs.lease
        assert lease is not None
        assert (lease.allowed, lease.remaining, lease.ttl) == (4, 0, 30.0)


async def test_le5_our_client_grants_the_js_legacy_server_and_rejects_its_request_beyond() -> None:
    async with (
        js_lease_server("--grant", "1", "--overdraw") as port,
        aiorsocket.connect(
            f"tcp://127.0.0.1:{port}",
            handler=Pong(),
            lease=LeaseConfig(granting(2), first_lease_timeout=STEP),
        ) as rs,
    ):
        async with asyncio.timeout(STEP):
            report = json.loads((await rs.request_response(Payload(b"report"))).data)
        granted = rs.granted_lease
    assert report["client_lease"] == {"ttl": int(TTL * 1000), "requests": 2}
    results = report["results"]
    assert results[:2] == [{"ok": True, "data": "pong:q0"}, {"ok": True, "data": "pong:q1"}]
    assert results[2]["code"] == REJECTED
    assert results[2]["message"].startswith("lease exhausted: we granted 2 requests")
    assert granted is not None
    assert granted.remaining == 0


async def _read_frame(reader: asyncio.StreamReader) -> Frame:
    size = int.from_bytes(await reader.readexactly(3), "big")
    return decode_frame(await reader.readexactly(size))


async def test_js_legacy_server_answers_a_request_beyond_its_lease_with_application_error() -> None:
    """Their divergence from LE-5 (REJECTED), seen from a raw socket that ignores the lease."""
    async with js_lease_server("--grant", "1") as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:

            def send(frame: Frame) -> None:
                encoded = encode_frame(frame)
                writer.write(len(encoded).to_bytes(3, "big") + encoded)

            send(SetupFrame(20_000, 90_000, PLAIN, PLAIN, lease=True))
            async with asyncio.timeout(STEP):
                assert await _read_frame(reader) == LeaseFrame(30_000, 1)
                send(RequestResponseFrame(1, b"q"))
                send(RequestResponseFrame(3, b"q"))
                replies = {frame.stream_id: frame for frame in [await _read_frame(reader) for _ in range(2)]}
        finally:
            writer.close()
            await writer.wait_closed()
    assert replies[1] == PayloadFrame(1, b"echo:q", None, False, True, True)
    over = replies[3]
    assert isinstance(over, ErrorFrame)
    assert over.error_code == APPLICATION_ERROR
    assert over.data == b"Missing leases. Expired: false, allowedRequests: 0"

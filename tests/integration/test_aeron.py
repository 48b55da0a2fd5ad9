"""RSocket over Aeron (``aeron+udp://``) through a real C media driver on loopback (§4: one frame per
Aeron message, no length prefix).

The driver is the ``aeronmd`` that ``scripts/install --aeron`` builds from PyPI's Aeron sources;
these tests fail, never skip, without it.  Waits are on awaited events (replies, closed futures);
the few loops that watch for a state are bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.errors import ConnectionLostError, LocalProtocolError
from aiorsocket.frames import FrameType, KeepaliveFrame, decode_frame
from aiorsocket.handler import ConnectionSetup
from aiorsocket.session import RSocket
from aiorsocket.transports import aeron
from aiorsocket.transports.aeron_client.driver import MediaDriver
from aiorsocket.transports.aeron_client.errors import DriverNotRunningError
from support.aeron import media_driver
from support.handlers import InteractionRecorder, exercise_every_interaction_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def driver() -> Iterator[MediaDriver]:
    with media_driver() as running:
        yield running


class Recorder(InteractionRecorder):
    """Also tells when a stream starts and ends; b"forever" streams until cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.stream_started = asyncio.Event()
        self.stream_ended = asyncio.Event()

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        self.stream_started.set()
        try:
            if payload.data == b"forever":
                await asyncio.Event().wait()
            for i in range(int(payload.data)):
                yield Payload(str(i).encode())
        finally:
            self.stream_ended.set()


@pytest.fixture
async def served(driver: MediaDriver) -> AsyncIterator[tuple[aiorsocket.Server, Recorder]]:
    handler = Recorder()
    async with aiorsocket.serve(handler, f"aeron+udp://127.0.0.1:0?dir={driver.directory}") as srv:
        yield srv, handler


def uri_of(srv: aiorsocket.Server) -> str:
    return srv.bound_uris[0]


async def test_every_interaction_model_over_aeron(served: tuple[aiorsocket.Server, Recorder]) -> None:
    srv, handler = served
    async with aiorsocket.connect(uri_of(srv)) as rs:
        assert isinstance(rs.transport, aeron.AeronFrameTransport)
        await exercise_every_interaction_model(rs, handler)


async def test_one_frame_per_aeron_message_without_length_prefix(
    served: tuple[aiorsocket.Server, Recorder],
) -> None:
    """§4: what the transport hands the session is exactly the frame that was offered."""
    srv, _ = served
    seen: list[bytes] = []
    async with aiorsocket.connect(uri_of(srv), frame_logger=lambda way, frame: seen.append(frame)) as rs:
        await rs.request_response(Payload(b"x"))
    frames = [decode_frame(frame) for frame in seen]
    assert [f.frame_type for f in frames[:3]] == [
        FrameType.SETUP,
        FrameType.REQUEST_RESPONSE,
        FrameType.PAYLOAD,
    ]


async def test_the_server_requests_the_client_over_the_same_connection(driver: MediaDriver) -> None:
    class AskBack(aiorsocket.RequestHandler):
        def __init__(self, requester: RSocket) -> None:
            self.requester = requester

        async def request_response(self, payload: Payload) -> Payload:
            answer = await self.requester.request_response(Payload(b"who are you?"))
            return Payload(b"you are " + answer.data)

    async def acceptor(setup: ConnectionSetup, requester: RSocket) -> aiorsocket.RequestHandler:
        return AskBack(requester)

    class Client(aiorsocket.RequestHandler):
        async def request_response(self, payload: Payload) -> Payload:
            return Payload(b"the client")

    async with (
        aiorsocket.serve(acceptor, f"aeron+udp://127.0.0.1:0?dir={driver.directory}") as srv,
        aiorsocket.connect(uri_of(srv), handler=Client()) as rs,
    ):
        assert (await rs.request_response(Payload(b"?"))).data == b"you are the client"


async def test_one_mebibyte_payload_each_way(served: tuple[aiorsocket.Server, Recorder]) -> None:
    """Aeron splits the message into MTU-sized fragments; the binding reassembles it whole."""
    srv, _ = served
    big = bytes(i % 251 for i in range(1 << 20))
    async with aiorsocket.connect(uri_of(srv)) as rs:
        assert (await rs.request_response(Payload(big))).data == b"echo:" + big


async def test_fr_a_payload_over_the_aeron_maximum_message_travels_rsocket_fragmented(
    driver: MediaDriver,
) -> None:
    """FR-1..FR-4: 6 MiB cannot be one Aeron message (4 MiB at most with 16 MiB terms), so both
    sides fragment at the transport's maximum without being told, and the peer reassembles."""
    big = bytes(i % 253 for i in range(6 << 20))
    uri = f"aeron+udp://127.0.0.1:0?dir={driver.directory}"
    async with aiorsocket.serve(Recorder(), uri) as srv:
        sizes: list[int] = []
        async with aiorsocket.connect(
            uri_of(srv), frame_logger=lambda way, frame: sizes.append(len(frame))
        ) as rs:
            assert rs.transport.get_extra_info("max_message_size") == aeron.MAX_MESSAGE_SIZE
            assert (await rs.request_response(Payload(big))).data == b"echo:" + big
    assert max(sizes) <= aeron.MAX_MESSAGE_SIZE
    assert len([size for size in sizes if size > 1 << 20]) >= 4  # two fragments each way at least


async def test_fr1_an_unfragmentable_frame_over_the_aeron_maximum_ends_the_connection_saying_why(
    served: tuple[aiorsocket.Server, Recorder],
) -> None:
    srv, _ = served
    async with aiorsocket.connect(uri_of(srv)) as rs:
        await rs.metadata_push(bytes(5 << 20))
        async with asyncio.timeout(30):
            await rs.wait_closed()
        assert isinstance(rs.close_error, ConnectionLostError)
        assert "not METADATA_PUSH, ERROR or SETUP frames (FR-1)" in str(rs.close_error)
    async with aiorsocket.connect(uri_of(srv)) as rs:
        assert (await rs.request_response(Payload(b"still serving"))).data == b"echo:still serving"


async def test_rn_a_hundred_thousand_item_stream_in_request_n_batches(
    served: tuple[aiorsocket.Server, Recorder],
) -> None:
    """RN-1..RN-3: the consumer's pulls drive REQUEST_N (limit_rate 256, topped up at 75%)."""
    srv, _ = served
    sent_request_n: list[int] = []

    def log(way: str, frame: bytes) -> None:
        if way == "send" and decode_frame(frame).frame_type is FrameType.REQUEST_N:
            sent_request_n.append(1)

    count = 0
    async with aiorsocket.connect(uri_of(srv), frame_logger=log) as rs:
        async for item in rs.request_stream(Payload(b"100000"), limit_rate=256):
            assert item.data == str(count).encode()
            count += 1
    assert count == 100_000
    # 256 asked up front, then 192 more each time 192 were consumed.
    assert len(sent_request_n) == (100_000 - 256) // 192 + 1


async def test_many_clients_each_get_their_own_connection(served: tuple[aiorsocket.Server, Recorder]) -> None:
    srv, _ = served
    clients = [await aiorsocket.connect(uri_of(srv)) for _ in range(8)]
    try:
        replies = await asyncio.gather(
            *(rs.request_response(Payload(b"client %d" % i)) for i, rs in enumerate(clients))
        )
        assert [r.data for r in replies] == [b"echo:client %d" % i for i in range(8)]
        sessions = {rs.transport.get_extra_info("aeron_session_id") for rs in clients}
        assert len(sessions) == 8
        assert len(srv.connections) == 8
    finally:
        for rs in clients:
            await rs.aclose()


async def test_ka_keepalives_flow_both_ways(served: tuple[aiorsocket.Server, Recorder]) -> None:
    srv, _ = served
    answered = asyncio.Event()

    def log(way: str, frame: bytes) -> None:
        decoded = decode_frame(frame)
        if way == "receive" and isinstance(decoded, KeepaliveFrame) and not decoded.respond:
            answered.set()

    async with aiorsocket.connect(uri_of(srv), keepalive_interval=0.05, frame_logger=log) as rs:
        async with asyncio.timeout(10):
            await answered.wait()
        assert (await rs.request_response(Payload(b"alive"))).data == b"echo:alive"


async def test_closing_the_client_frees_the_servers_connection(
    served: tuple[aiorsocket.Server, Recorder],
) -> None:
    srv, _ = served
    async with aiorsocket.connect(uri_of(srv)) as rs:
        await rs.request_response(Payload(b"x"))
        (server_side,) = srv.connections
    async with asyncio.timeout(10):
        await server_side.wait_closed()
    assert srv.connections == set()


async def test_closing_the_server_ends_the_client_cleanly(driver: MediaDriver) -> None:
    async with aiorsocket.serve(Recorder(), f"aeron+udp://127.0.0.1:0?dir={driver.directory}") as srv:
        rs = await aiorsocket.connect(uri_of(srv))
        await rs.request_response(Payload(b"x"))
    async with asyncio.timeout(10):
        await rs.wait_closed()
    assert rs.is_closed


async def test_le_leases_are_granted_and_spent_over_aeron(driver: MediaDriver) -> None:
    """LE-1..LE-4 unchanged over Aeron: requests wait for the server's LEASE and spend it."""
    uri = f"aeron+udp://127.0.0.1:0?dir={driver.directory}"
    strategy = aiorsocket.FixedRateLease(requests=2, period=30)
    async with (
        aiorsocket.serve(Recorder(), uri, lease=strategy) as srv,
        aiorsocket.connect(uri_of(srv), lease=aiorsocket.LeaseConfig()) as rs,
    ):
        assert [(await rs.request_response(Payload(b"%d" % i))).data for i in range(2)] == [
            b"echo:0",
            b"echo:1",
        ]
        with pytest.raises(aiorsocket.MissingLeaseError, match="exhausted"):
            await rs.request_response(Payload(b"one too many"))


async def test_re7_a_stream_resumes_over_a_new_aeron_connection(driver: MediaDriver) -> None:
    """RE-4..RE-7 unchanged over Aeron: the client's Aeron link is cut mid-stream; it opens a new
    one (a new handshake, new publications), RESUMEs, and the stream carries on with nothing lost
    or repeated."""
    uri = f"aeron+udp://127.0.0.1:0?dir={driver.directory}"
    async with (
        aiorsocket.serve(Recorder(), uri, resume=aiorsocket.ResumeConfig(session_lifetime=30)) as srv,
        aiorsocket.connect(uri_of(srv), resume=aiorsocket.ResumeConfig()) as rs,
    ):
        received: list[int] = []
        first_link: aeron.AeronFrameTransport | None = None
        async for item in rs.request_stream(Payload(b"3000"), limit_rate=64):
            received.append(int(item.data))
            if len(received) == 1000:
                # The resumable transport's current link (internal): the Aeron connection under it.
                first_link = rs.transport._link.transport
                assert isinstance(first_link, aeron.AeronFrameTransport)
                first_link.abort()
        assert received == list(range(3000))
        stats = rs.resume_stats
        assert stats is not None
        assert stats.resumes == 1
        assert rs.transport._link.transport is not first_link


CLIENT_APP = textwrap.dedent(
    """
    import asyncio, sys
    import aiorsocket
    from aiorsocket import Payload

    async def main() -> None:
        rs = await aiorsocket.connect(sys.argv[1])
        stream = rs.request_stream(Payload(b"forever"))
        print("connected", flush=True)
        async for _ in stream:
            pass

    asyncio.run(main())
    """
)


async def test_a_client_that_vanishes_with_its_driver_is_noticed_and_freed(
    served: tuple[aiorsocket.Server, Recorder],
) -> None:
    """The client's host disappears (its process and its own media driver killed): no close, no
    end-of-stream.  The server's image of it times out, its connection ends, the open stream's
    handler is cancelled and nothing of it is left in the listener."""
    srv, handler = served
    uri = uri_of(srv).split("?")[0]
    with media_driver() as client_driver:
        env = {**os.environ, "AERON_DIR": client_driver.directory}
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT_APP, uri, env=env, stdout=asyncio.subprocess.PIPE
        )
        try:
            assert client.stdout is not None
            async with asyncio.timeout(30):
                assert await client.stdout.readline() == b"connected\n"
                await handler.stream_started.wait()
            (server_side,) = srv.connections
            client.kill()
            client_driver.kill()
            async with asyncio.timeout(30):
                await server_side.wait_closed()
                await handler.stream_ended.wait()
        finally:
            if client.returncode is None:
                client.kill()
            await client.wait()
    assert srv.connections == set()
    assert isinstance(server_side.close_error, ConnectionLostError)
    (listener,) = srv._listeners
    assert isinstance(listener, aeron.AeronListener)
    assert listener._reader.connections == {}


async def test_no_driver_running_fails_at_once_saying_so(tmp_path: Path) -> None:
    """No cnc.dat: refused by our own check before the Aeron client would wait out its timeout."""
    with pytest.raises(DriverNotRunningError, match="no Aeron media driver is running at"):
        await aiorsocket.connect(f"aeron+udp://127.0.0.1:40999?dir={tmp_path}")
    with pytest.raises(DriverNotRunningError, match="no Aeron media driver is running at"):
        await aiorsocket.serve(Recorder(), f"aeron+udp://127.0.0.1:0?dir={tmp_path}")


async def test_a_killed_driver_fails_its_connections(served: tuple[aiorsocket.Server, Recorder]) -> None:
    """The client's own driver dies mid-connection: the C++ client's conductor reports the driver
    timeout, and the session fails with a ConnectionLostError naming the driver."""
    srv, _ = served
    uri = uri_of(srv).split("?")[0]
    with media_driver() as client_driver:
        rs = await aiorsocket.connect(f"{uri}?dir={client_driver.directory}")
        assert (await rs.request_response(Payload(b"x"))).data == b"echo:x"
        client_driver.kill()
        async with asyncio.timeout(30):
            await rs.wait_closed()
    assert isinstance(rs.close_error, ConnectionLostError)
    assert client_driver.directory in str(rs.close_error)


async def test_connecting_where_no_server_listens_is_refused(
    driver: MediaDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aeron, "HANDSHAKE_TIMEOUT", 0.5)
    with pytest.raises(ConnectionRefusedError, match="no RSocket Aeron server at"):
        await aiorsocket.connect(f"aeron+udp://127.0.0.1:40998?dir={driver.directory}")


def test_uri_options_are_checked() -> None:
    from aiorsocket.transports.uri import parse_uri

    endpoint = parse_uri("aeron+udp://127.0.0.1:40123?dir=/dev/shm/aeron-x")
    assert (endpoint.host, endpoint.port, endpoint.path) == ("127.0.0.1", 40123, "?dir=/dev/shm/aeron-x")
    with pytest.raises(LocalProtocolError, match="does not take term"):
        parse_uri("aeron+udp://127.0.0.1:40123?term=64k")
    with pytest.raises(LocalProtocolError, match="takes no path"):
        parse_uri("aeron+udp://127.0.0.1:40123/rsocket")


async def test_an_idle_connection_leaves_the_cpu_alone(served: tuple[aiorsocket.Server, Recorder]) -> None:
    """The binding's poller backs off to sleeping when idle: an idle client and server in this
    process use a small share of one core, not the 100% a spinning poller would."""
    srv, _ = served
    async with aiorsocket.connect(uri_of(srv), keepalive_interval=10) as rs:
        await rs.request_response(Payload(b"x"))
        cpu = time.process_time()
        await asyncio.sleep(1.0)  # the idle period itself is what is measured
        used = time.process_time() - cpu
    assert used < 0.3, f"{used:.2f} s of CPU in 1 s of idling"


def test_without_the_binding_the_error_says_how_to_build_it(tmp_path: Path) -> None:
    code = (
        "import asyncio, aiorsocket\n"
        "async def main():\n"
        "    await aiorsocket.connect('aeron+udp://127.0.0.1:40123')\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "AIORSOCKET_AERON_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert "AeronUnavailableError" in done.stderr
    assert "python -m aiorsocket.transports.aeron_client.build" in done.stderr


def test_the_bench_runs_every_shape_over_aeron_next_to_tcp(tmp_path: Path) -> None:
    """bench/suite.py --aeron starts its own media driver and reports both transports in one run;
    the shapes check every answer, so this asserts correctness, never speed."""
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "suite.py"),
            "--impls=aiorsocket",
            "--aeron",
            "--loops=asyncio",
            "--runs=1",
            "--scale=0.002",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aiorsocket over Aeron / over TCP" in done.stdout
    document = json.loads(out.read_text())
    assert document["failures"] == []
    impls = {(r["impl"], r["shape"]) for r in document["results"]}
    shapes = {shape["name"] for shape in document["shapes"]}
    assert impls == {(impl, shape) for impl in ("aiorsocket", "aiorsocket-aeron") for shape in shapes}
    assert {row["shape"] for row in document["aeron_vs_tcp"]} == shapes
    assert all("driver_cpu_s" in r["runs"][0] for r in document["results"] if r["impl"] == "aiorsocket-aeron")

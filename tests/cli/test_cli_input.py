"""What the client commands put on the wire: SETUP fields, metadata built from --route / --auth-*,
MIME aliases, fragmentation, and a channel that sends each stdin line as soon as it is read.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import aiorsocket
from aiorsocket import Payload, RequestHandler
from aiorsocket.cli.request import EXIT_OK
from aiorsocket.extensions import BearerAuth, SimpleAuth, decode_routing, parse_composite_metadata
from aiorsocket.frames import (
    MetadataPushFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestResponseFrame,
    SetupFrame,
)
from support.cli import CLI, TIMEOUT, RecordingServer, run_cli


class Echo(RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        return Payload(payload.data, payload.metadata)

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        async for item in inbound:
            yield Payload(b"echo:" + item.data)

    async def fire_and_forget(self, payload: Payload) -> None:
        return None


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    async with RecordingServer(Echo()) as running:
        yield running


async def test_setup_frame_carries_every_connection_option(server: RecordingServer, tmp_path: Path) -> None:
    metadata = tmp_path / "setup.bin"
    metadata.write_bytes(b"\x01\x02")
    result = await run_cli(
        "request",
        server.bound_uri,
        "--setup-data",
        "hello",
        "--setup-metadata",
        f"@{metadata}",
        "--keepalive",
        "2s",
        "--max-lifetime",
        "1m",
        "--data-mime",
        "text",
        "--metadata-mime",
        "binary",
    )
    assert result.returncode == EXIT_OK, result.stderr
    setup = await server.wait_for(lambda frame: isinstance(frame, SetupFrame))
    assert setup == SetupFrame(
        2000, 60_000, "application/octet-stream", "text/plain", data=b"hello", metadata=b"\x01\x02"
    )


async def test_rsocket_cli_spellings_are_accepted(server: RecordingServer) -> None:
    """-i, -s, --dataFormat, --metadataFormat; with CBOR, typed-in setup data is JSON sent as CBOR too."""
    result = await run_cli(
        "request",
        server.bound_uri,
        "-i",
        "7",
        "-s",
        '"hi"',
        "--dataFormat",
        "cbor",
        "--metadataFormat",
        "text",
    )
    assert result.returncode == EXIT_OK, result.stderr
    setup = await server.wait_for(lambda frame: isinstance(frame, SetupFrame))
    assert isinstance(setup, SetupFrame)
    assert (setup.data_mime, setup.metadata_mime, setup.data) == ("application/cbor", "text/plain", b"\x62hi")
    assert result.out == "7\n"


@pytest.mark.parametrize(
    ("option", "auth"),
    [("--auth-simple", SimpleAuth("ann", "pa:ss")), ("--auth-bearer", BearerAuth("t0ken"))],
)
async def test_route_and_auth_build_composite_metadata(
    server: RecordingServer, option: str, auth: SimpleAuth | BearerAuth
) -> None:
    value = "ann:pa:ss" if isinstance(auth, SimpleAuth) else "t0ken"
    result = await run_cli("request", server.bound_uri, "--route", "users.find", option, value, "-d", "{}")
    assert result.returncode == EXIT_OK, result.stderr
    setup = await server.wait_for(lambda frame: isinstance(frame, SetupFrame))
    assert isinstance(setup, SetupFrame)
    assert setup.metadata_mime == "message/x.rsocket.composite-metadata.v0"
    request = await server.wait_for(lambda frame: isinstance(frame, RequestResponseFrame))
    assert isinstance(request, RequestResponseFrame)
    assert request.metadata is not None
    parsed = parse_composite_metadata(request.metadata)
    assert (parsed.route, parsed.auth) == ("users.find", auth)


async def test_routing_metadata_mime_sends_bare_routing(server: RecordingServer) -> None:
    result = await run_cli("fnf", server.bound_uri, "--route", "audit", "--metadata-mime", "routing")
    assert result.returncode == EXIT_OK, result.stderr
    request = await server.wait_for(lambda frame: isinstance(frame, RequestFnfFrame))
    assert isinstance(request, RequestFnfFrame)
    assert request.metadata is not None
    assert decode_routing(request.metadata) == ["audit"]


async def test_push_sends_metadata_from_a_file(server: RecordingServer, tmp_path: Path) -> None:
    blob = tmp_path / "push.bin"
    blob.write_bytes(b"\x00\xffpush")
    assert (await run_cli("push", server.bound_uri, "-m", f"@{blob}")).returncode == EXIT_OK
    push = await server.wait_for(lambda frame: isinstance(frame, MetadataPushFrame))
    assert isinstance(push, MetadataPushFrame)
    assert push.metadata == b"\x00\xffpush"


async def test_fragment_size_splits_large_payloads(server: RecordingServer) -> None:
    data = "x" * 5000
    result = await run_cli("request", server.bound_uri, "-d", data, "--fragment-size", "1024")
    assert result.out == data + "\n"
    first = await server.wait_for(lambda frame: isinstance(frame, RequestResponseFrame))
    assert isinstance(first, RequestResponseFrame)
    assert first.follows
    await server.wait_for(lambda frame: isinstance(frame, PayloadFrame) and not frame.follows)


async def test_channel_sends_each_stdin_line_as_it_is_read(server: RecordingServer) -> None:
    """Line 1 reaches the server and comes back while stdin is still open; EOF completes the channel."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "channel",
        server.bound_uri,
        "-d",
        "-",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(b"one\n")
    await proc.stdin.drain()
    opened = await server.wait_for(lambda frame: isinstance(frame, RequestChannelFrame))
    assert isinstance(opened, RequestChannelFrame)
    assert opened.data == b"one"
    assert await asyncio.wait_for(proc.stdout.readline(), TIMEOUT) == b"echo:one\n"
    proc.stdin.write(b"two\n")
    await proc.stdin.drain()
    assert await asyncio.wait_for(proc.stdout.readline(), TIMEOUT) == b"echo:two\n"
    proc.stdin.close()
    rest, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert (proc.returncode, rest) == (EXIT_OK, b""), stderr
    await server.wait_for(lambda frame: isinstance(frame, PayloadFrame) and frame.complete and not frame.next)


async def test_header_flag_sends_websocket_upgrade_headers() -> None:
    seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def acceptor(
        setup: aiorsocket.ConnectionSetup, rs: aiorsocket.RSocket
    ) -> aiorsocket.RequestHandler:
        seen.set_result(rs.transport.get_extra_info("request_headers")["X-Token"])
        return HeaderEcho()

    async with aiorsocket.serve(acceptor, "ws://127.0.0.1:0/rsocket") as srv:
        result = await run_cli(
            "request", f"ws://127.0.0.1:{srv.port}/rsocket", "-H", "X-Token: abc", "-d", "hi", "--dmt", "text"
        )
    assert result.returncode == 0, result.stderr
    assert result.lines == ["hi"]
    assert seen.result() == "abc"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ws://127.0.0.1:1/rsocket", "-H", "no colon"), "--header 'no colon' is not NAME:VALUE"),
        (("tcp://127.0.0.1:1", "-H", "X-Token: abc"), "--header only applies to WebSocket URIs"),
    ],
)
async def test_header_flag_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = await run_cli("request", *args, "-d", "x")
    assert result.returncode == 2
    assert message in result.stderr
    assert "-H 'Authorization: Bearer TOKEN'" in result.stderr


class HeaderEcho(aiorsocket.RequestHandler):
    async def request_response(self, payload: aiorsocket.Payload) -> aiorsocket.Payload:
        return payload

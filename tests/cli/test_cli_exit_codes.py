"""Every exit code of the client commands, the usage messages, and Ctrl-C sending CANCEL.

0 done, 1 the server answered with an ERROR, 2 bad usage, 3 connection failed / SETUP refused /
connection lost, 4 --timeout, 130 interrupted.  The servers are in-process (``RecordingServer``
sees every frame the CLI sends), so nothing here sleeps: tests wait for output lines, frames
and process exits.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

import aiorsocket
from aiorsocket import ApplicationError, Payload, RequestHandler
from aiorsocket.cli.main import main
from aiorsocket.cli.request import (
    EXIT_APPLICATION_ERROR,
    EXIT_CONNECTION,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
)
from aiorsocket.errors import InvalidError, RejectedSetupError
from aiorsocket.frames import CancelFrame, RequestResponseFrame, RequestStreamFrame
from support.cli import CLI, TIMEOUT, RecordingServer, run_cli


class Service(RequestHandler):
    """``fail`` → APPLICATION_ERROR, ``invalid`` → INVALID, ``custom`` → code 0x301; streams never end."""

    def __init__(self) -> None:
        self.never = asyncio.Event()
        self.fnf: list[Payload] = []
        self.pushes: list[bytes] = []
        self.server: RecordingServer | None = None

    async def request_response(self, payload: Payload) -> Payload:
        if payload.data == b"fail":
            raise ApplicationError("it broke")
        if payload.data == b"invalid":
            raise InvalidError("bad request")
        if payload.data == b"custom":
            raise ApplicationError("teapot", code=0x301)
        if payload.data == b"hang":
            await self.never.wait()
        return Payload(b"ok")

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        if payload.data == b"drop":
            yield Payload(b"first")
            assert self.server is not None
            # Closing without an ERROR frame, as a crashing server would; "first" is flushed before.
            self.server.connections[-1].close()
            return
        for i in range(10**9):
            yield Payload(str(i).encode())

    async def request_channel(
        self, payload: Payload, inbound: AsyncIterator[Payload]
    ) -> AsyncIterator[Payload]:
        async for item in inbound:
            yield item

    async def fire_and_forget(self, payload: Payload) -> None:
        self.fnf.append(payload)

    async def metadata_push(self, metadata: bytes) -> None:
        self.pushes.append(metadata)


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    service = Service()
    async with RecordingServer(service) as running:
        service.server = running
        yield running


async def test_exit_0_for_every_interaction(server: RecordingServer) -> None:
    service = server.handler
    assert isinstance(service, Service)
    assert (await run_cli("request", server.bound_uri, "-d", "hi")).returncode == EXIT_OK
    assert (await run_cli("stream", server.bound_uri, "--take", "3")).returncode == EXIT_OK
    assert (await run_cli("channel", server.bound_uri, "-d", "a", "--take", "1")).returncode == EXIT_OK
    assert (await run_cli("fnf", server.bound_uri, "-d", "note")).returncode == EXIT_OK
    assert (await run_cli("push", server.bound_uri, "-m", "refresh")).returncode == EXIT_OK
    await server.wait_for(lambda frame: frame.frame_type.name == "METADATA_PUSH")
    await server.wait_for(lambda frame: frame.frame_type.name == "REQUEST_FNF")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("fail", "APPLICATION_ERROR (0x201): it broke"),
        ("invalid", "INVALID (0x204): bad request"),
        ("custom", "application-defined error (0x301): teapot"),
    ],
)
async def test_exit_1_when_the_server_answers_with_an_error(
    server: RecordingServer, data: str, message: str
) -> None:
    result = await run_cli("request", server.bound_uri, "-d", data)
    assert result.returncode == EXIT_APPLICATION_ERROR
    assert result.stderr == f"aiorsocket request: the server answered with an error: {message}\n"
    assert result.stdout == b""


async def test_exit_3_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # Bound but not listening: connecting is refused, and nobody else can take the port meanwhile.
        result = await run_cli("request", f"tcp://127.0.0.1:{port}")
    assert result.returncode == EXIT_CONNECTION
    assert result.stderr.startswith("aiorsocket request: cannot connect: ")


async def test_exit_3_when_the_setup_is_refused() -> None:
    async def refuse(setup: aiorsocket.ConnectionSetup, rsocket: aiorsocket.RSocket) -> None:
        raise RejectedSetupError("go away")

    async with aiorsocket.serve(refuse, "tcp://127.0.0.1:0") as running:
        uri = running.bound_uris[0]
        for command in ("request", "stream", "channel"):
            result = await run_cli(command, uri, "-d", "1")
            assert result.returncode == EXIT_CONNECTION, result.stderr
            assert result.stderr == (
                f"aiorsocket {command}: the server refused the SETUP: REJECTED_SETUP (0x3): go away\n"
            )


async def test_exit_3_when_the_connection_drops_mid_stream(server: RecordingServer) -> None:
    result = await run_cli("stream", server.bound_uri, "-d", "drop")
    assert result.returncode == EXIT_CONNECTION
    assert result.lines == ["first"]
    assert result.stderr.startswith("aiorsocket stream: connection lost")


async def test_exit_4_on_timeout_and_the_stream_is_cancelled(server: RecordingServer) -> None:
    result = await run_cli("stream", server.bound_uri, "--timeout", "300ms", "-o", "hex")
    assert result.returncode == EXIT_TIMEOUT
    assert result.stderr == "aiorsocket stream: timed out after 0.3 s (--timeout)\n"
    assert result.lines
    await server.wait_for(lambda frame: isinstance(frame, CancelFrame) and frame.stream_id == 1)


async def test_exit_4_for_a_request_that_never_completes(server: RecordingServer) -> None:
    result = await run_cli("request", server.bound_uri, "-d", "hang", "--timeout", "0.2")
    assert result.returncode == EXIT_TIMEOUT
    await server.wait_for(lambda frame: isinstance(frame, CancelFrame))


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI, *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


async def test_ctrl_c_on_a_stream_sends_cancel_and_exits_130(server: RecordingServer) -> None:
    proc = await _start("stream", server.bound_uri, "-d", "forever")
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
    assert first == b"0\n"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == EXIT_INTERRUPTED
    assert stderr.decode() == "aiorsocket stream: interrupted\n"
    cancel = await server.wait_for(lambda frame: isinstance(frame, CancelFrame))
    request = await server.wait_for(lambda frame: isinstance(frame, RequestStreamFrame))
    assert cancel.stream_id == request.stream_id
    assert stdout.endswith(b"\n")


async def test_ctrl_c_on_a_pending_request_sends_cancel(server: RecordingServer) -> None:
    proc = await _start("request", server.bound_uri, "-d", "hang")
    await server.wait_for(lambda frame: isinstance(frame, RequestResponseFrame))
    proc.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == EXIT_INTERRUPTED
    assert b"Traceback" not in stderr
    await server.wait_for(lambda frame: isinstance(frame, CancelFrame) and frame.stream_id == 1)


async def test_ctrl_c_on_a_channel_fed_by_an_open_pipe(server: RecordingServer) -> None:
    """stdin stays open (the user is still typing): Ctrl-C must still end the channel at once."""
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
    proc.stdin.write(b"one\n")
    await proc.stdin.drain()
    await server.wait_for(lambda frame: frame.frame_type.name == "REQUEST_CHANNEL")
    proc.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    await server.wait_for(lambda frame: isinstance(frame, CancelFrame))


# -- exit 2: usage errors name the problem and show the right form ----------------------------


@pytest.mark.parametrize(
    ("argv", "problem", "example"),
    [
        (
            ["stream", "foo://x"],
            "unsupported URI scheme in 'foo://x'",
            "aiorsocket stream tcp://localhost:7878",
        ),
        (["request", "local://svc"], "names an in-process server", "unix:///tmp/service.sock"),
        (
            ["request", "tcp://h:1", "--route", "r", "-m", "m"],
            "cannot be combined with --route",
            "--route ROUTE",
        ),
        (["request", "tcp://h:1", "-d", "@/no/such/file"], "cannot read the data file", "-d @path/to/file"),
        (["request", "tcp://h:1", "--ca-file", "ca.pem"], "only for encrypted URIs", "tls://localhost:7443"),
        (
            ["stream", "tcp://h:1", "--request-n", "4", "--batch", "8"],
            "--batch (8) cannot exceed",
            "--batch 8",
        ),
        (
            ["stream", "tcp://h:1", "--request-n", "max", "--batch", "8"],
            "needs a finite --request-n",
            "--batch 64",
        ),
        (["push", "tcp://h:1"], "push sends metadata only", "-m META"),
        (["request", "tcp://h:1", "--auth-simple", "ann"], "wants USER:PASSWORD", "alice:secret"),
        (["request", "tcp://h:1", "--as", "a:b", "--auth-bearer", "t"], "not both", "--auth-bearer TOKEN"),
        (
            ["request", "tcp://h:1", "--auth-bearer", "t", "--metadata-mime", "text"],
            "need composite",
            "composite",
        ),
        (["request", "tcp://h:1", "--data-mime", "cbor", "-d", "{x"], "is not JSON", "--data-mime cbor -d"),
        (["request", "tcp://h:1", "--fragment-size", "10"], "fragment_size must be", "--help"),
        (["request", "tcp://h:1", "-d", "-", "-m", "-"], "only one input can come from stdin", "-d -"),
        (["channel", "tcp://h:1", "-d", "-", "-d", "x"], "cannot be mixed with other -d", "-d -"),
    ],
)
def test_exit_2_says_what_is_wrong_and_shows_the_right_form(
    argv: list[str], problem: str, example: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"usage: aiorsocket {argv[0]} ")
    message, hint = lines[-2:]
    assert message.startswith(f"aiorsocket {argv[0]}: error: ")
    assert problem in message
    assert hint.startswith("  e.g. aiorsocket ")
    assert example in hint


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["stream"], "the following arguments are required: URI"),
        (["stream", "tcp://h:1", "--take", "0"], "argument --take: expected a whole number from 1"),
        (["stream", "tcp://h:1", "--request-n", "many"], "or 'max', not 'many'"),
        (
            ["request", "tcp://h:1", "--data-mime", "yaml"],
            "one of: json, cbor, text, binary, composite, routing",
        ),
        (["request", "tcp://h:1", "--keepalive", "soon"], "such as 20, 2.5s, 500ms or 1m"),
        (["request", "tcp://h:1", "-o", "xml"], "invalid choice: 'xml'"),
        (["request", "tcp://h:1", "--take", "3"], "unrecognized arguments: --take 3"),
    ],
)
def test_exit_2_for_malformed_arguments(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("usage: aiorsocket ")
    assert problem in err


async def test_exit_2_when_stdin_is_empty_for_a_channel(server: RecordingServer) -> None:
    result = await run_cli("channel", server.bound_uri, "-d", "-", stdin=b"")
    assert result.returncode == EXIT_USAGE
    assert "stdin had no lines" in result.stderr


def test_every_command_has_examples_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("request", "stream", "channel", "fnf", "push", "completion"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert f"examples:\n  aiorsocket {command} " in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["frames", "decode", "--help"])
    assert "examples:\n  aiorsocket frames decode" in capsys.readouterr().out


def test_startup_imports_no_connection_machinery() -> None:
    """``--help`` and completion stay fast: the client commands import asyncio-heavy modules only to run."""
    probe = (
        "import sys; from aiorsocket.cli.main import build_parser; build_parser(); "
        "print([m for m in ('aiorsocket.cli.runner', 'aiorsocket.cli.plan', 'aiorsocket.cli.output') "
        "if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"

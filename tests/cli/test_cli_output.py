"""What the client commands print: every ``-o`` format, ``--show-metadata`` and ``--debug``, as snapshots.

The server is in-process and answers with fixed payloads (text, bytes that are not UTF-8, JSON,
text with control characters, non-ASCII text, composite metadata), so the expected output is
byte-exact.  Rewrite the snapshots after a deliberate change with AIORSOCKET_UPDATE_SNAPSHOTS=1.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import cbor2
import pytest

from aiorsocket import Payload, RequestHandler
from aiorsocket.cli.request import EXIT_INTERRUPTED
from aiorsocket.extensions import build_composite_metadata
from aiorsocket.frames import RequestResponseFrame
from support.cli import CLI, TIMEOUT, RecordingServer, assert_snapshot, run_cli

ROUTED: Final = build_composite_metadata(route="quotes", tags=["v1"])
FIXTURES: Final = {
    "text": Payload(b"hello, world"),
    "binary": Payload(bytes([0x00, 0x01, 0xFE, 0xFF])),
    "json": Payload(b'{"name":"Ann","tags":["a","b"],"n":1.5}'),
    "control": Payload(b"line 1\nline 2\ttabbed \\ back\x1b[0m"),
    "unicode": Payload("grüße ✓".encode()),
    "routed": Payload(b'{"quote":"hi"}', ROUTED),
    "empty": Payload(b"", b""),
}


class Fixtures(RequestHandler):
    def __init__(self) -> None:
        self.requests: list[Payload] = []

    async def request_response(self, payload: Payload) -> Payload:
        self.requests.append(payload)
        return FIXTURES.get(payload.data.decode("utf-8", "replace"), Payload(payload.data, payload.metadata))

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        if payload.data.isdigit():
            for i in range(int(payload.data)):
                yield Payload(str(i).encode())
            return
        for item in FIXTURES.values():
            yield item


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    async with RecordingServer(Fixtures()) as running:
        yield running


@pytest.mark.parametrize("fmt", ["auto", "text", "json", "hex", "raw"])
async def test_every_output_format(server: RecordingServer, fmt: str) -> None:
    result = await run_cli("stream", server.bound_uri, "-o", fmt)
    assert result.returncode == 0, result.stderr
    assert_snapshot(f"stream_{fmt}.txt", result.stdout)


async def test_auto_prints_one_line_per_payload(server: RecordingServer) -> None:
    result = await run_cli("stream", server.bound_uri)
    assert len(result.lines) == len(FIXTURES)
    assert result.lines[1] == "0x0001feff"
    assert result.lines[3] == "line 1\\nline 2\\ttabbed \\\\ back\\x1b[0m"


async def test_json_output_warns_once_about_payloads_that_are_not_json(server: RecordingServer) -> None:
    result = await run_cli("stream", server.bound_uri, "-o", "json")
    assert result.stderr.count("is not JSON") == 1
    pretty = result.out.split("0x0001feff\n", 1)[1].split("\nline 1", 1)[0]
    assert json.loads(pretty) == {"name": "Ann", "tags": ["a", "b"], "n": 1.5}
    assert pretty.startswith('{\n  "name": "Ann",\n')


async def test_show_metadata_decodes_composite_entries(server: RecordingServer) -> None:
    result = await run_cli("stream", server.bound_uri, "--metadata-mime", "composite", "--show-metadata")
    assert result.returncode == 0, result.stderr
    assert_snapshot("stream_show_metadata.txt", result.stdout)
    metadata, data = result.lines[5].split("\t")
    assert json.loads(metadata) == [{"mime": "message/x.rsocket.routing.v0", "tags": ["quotes", "v1"]}]
    assert data == '{"quote":"hi"}'


async def test_show_metadata_with_plain_metadata(server: RecordingServer) -> None:
    result = await run_cli("request", server.bound_uri, "-d", "echo me", "-m", "trace=1", "--show-metadata")
    assert result.out == "trace=1\techo me\n"


async def test_cbor_is_typed_as_json_and_printed_as_json(server: RecordingServer) -> None:
    result = await run_cli("request", server.bound_uri, "--data-mime", "cbor", "-d", '{"q": [1, true]}')
    assert result.returncode == 0, result.stderr
    setup = server.connections[0].connection.setup
    assert setup is not None
    assert setup.data_mime == "application/cbor"
    request = next(frame for frame in server.received if isinstance(frame, RequestResponseFrame))
    assert cbor2.loads(request.data) == {"q": [1, True]}
    assert result.out == '{"q": [1, true]}\n'
    pretty = await run_cli("request", server.bound_uri, "--data-mime", "cbor", "-d", '{"q": 1}', "-o", "json")
    assert pretty.out == '{\n  "q": 1\n}\n'


async def test_data_from_file_stdin_and_at_escape(server: RecordingServer, tmp_path: Path) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(b"\x00from file")
    from_file = await run_cli("request", server.bound_uri, "-d", f"@{body}", "-o", "hex")
    assert from_file.out == b"\x00from file".hex() + "\n"
    from_stdin = await run_cli("request", server.bound_uri, "-d", "-", stdin=b"piped\n")
    assert from_stdin.out == "piped\\n\n"
    escaped = await run_cli("request", server.bound_uri, "-d", "@@handle")
    assert escaped.out == "@handle\n"


async def test_debug_prints_every_frame_decoded_and_as_hex(server: RecordingServer) -> None:
    result = await run_cli(
        "request",
        server.bound_uri,
        "--route",
        "quotes",
        "--auth-simple",
        "ann:s3cret",
        "-d",
        "routed",
        "--debug",
    )
    assert result.returncode == 0, result.stderr
    assert "auth=simple username=ann password=<hidden>" in result.stderr
    assert_snapshot("request_debug.txt", result.stderr.encode())


async def test_debug_shows_request_n_and_cancel(server: RecordingServer) -> None:
    result = await run_cli("stream", server.bound_uri, "--take", "2", "--request-n", "3", "--debug")
    headings = [line for line in result.stderr.splitlines() if line.startswith((">>", "<<"))]
    assert headings[:2] == [">> SETUP stream=0 flags=-", ">> REQUEST_STREAM stream=1 flags=-"]
    assert "    initial_request_n: 3" in result.stderr
    assert headings[-1] == ">> CANCEL stream=1 flags=-"
    assert result.lines == ["hello, world", "0x0001feff"]


async def test_progress_counter_and_summary_on_stderr(server: RecordingServer) -> None:
    """A stream that outlasts PROGRESS_DELAY shows ``N items  R/s``; stopping it leaves a summary line."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "stream",
        server.bound_uri,
        "-d",
        str(10**9),
        "--progress",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    counter = await asyncio.wait_for(proc.stderr.readuntil(b"/s"), TIMEOUT)
    assert re.fullmatch(rb"\r\x1b\[K\d+ items  [\d,]+/s", counter)
    proc.send_signal(signal.SIGINT)
    rest = await asyncio.wait_for(proc.stderr.read(), TIMEOUT)
    assert await proc.wait() == EXIT_INTERRUPTED
    assert re.search(rb"\r\x1b\[K\d+ items in [\d.]+ s \([\d,]+/s\)\naiorsocket stream: interrupted\n$", rest)


async def test_no_progress_when_stderr_is_not_a_terminal(server: RecordingServer) -> None:
    result = await run_cli("stream", server.bound_uri, "-d", "150000")
    assert result.returncode == 0
    assert result.stderr == ""

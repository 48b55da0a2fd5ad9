"""The ``aiorsocket`` client commands as real processes, and a server that shows the tests every frame.

:class:`RecordingServer` is our own server (``open_listener`` + ``RSocket``) with the
``frame_logger`` hook on every connection, so a test can wait for the exact frame the CLI
sent (a CANCEL after Ctrl-C, say) instead of guessing from side effects.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

from aiorsocket import RequestHandler, RSocket
from aiorsocket.framelog import Direction
from aiorsocket.frames import decode_frame
from aiorsocket.frames.model import Frame
from aiorsocket.protocol import Connection, ConnectionConfig, Role
from aiorsocket.transports.base import FrameTransport, Listener
from aiorsocket.transports.uri import open_listener

CLI: Final = (sys.executable, "-m", "aiorsocket.cli.main")
TIMEOUT: Final = 30.0
SNAPSHOTS: Final = Path(__file__).resolve().parents[1] / "cli" / "snapshots"
UPDATE_SNAPSHOTS: Final = "AIORSOCKET_UPDATE_SNAPSHOTS"


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8")

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


async def run_cli(*args: str, stdin: bytes | None = None) -> CliResult:
    """Run ``aiorsocket ARGS`` to completion, leaving the loop free for an in-process server."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return CliResult(proc.returncode, stdout, stderr.decode("utf-8", "replace"))


def run_cli_sync(*args: str, stdin: bytes | None = None, timeout: float = TIMEOUT) -> CliResult:
    """Run ``aiorsocket ARGS`` to completion (for tests whose server is another process)."""
    done = subprocess.run(
        [*CLI, *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


def assert_snapshot(name: str, actual: bytes) -> None:
    """Compare with ``tests/cli/snapshots/NAME``; with AIORSOCKET_UPDATE_SNAPSHOTS=1, rewrite it instead."""
    path = SNAPSHOTS / name
    if os.environ.get(UPDATE_SNAPSHOTS) == "1":
        path.write_bytes(actual)
        return
    assert path.is_file(), f"no snapshot {path}; run the test with {UPDATE_SNAPSHOTS}=1 to write it"
    expected = path.read_bytes()
    assert actual == expected, (
        f"output differs from snapshot {name}\n--- expected\n{expected!r}\n--- actual\n{actual!r}"
    )


@dataclass
class RecordingServer:
    """Serves ``handler`` on ``uri``; ``received`` holds every frame the clients sent, decoded."""

    handler: RequestHandler
    uri: str = "tcp://127.0.0.1:0"
    received: list[Frame] = field(default_factory=list)
    connections: list[RSocket] = field(default_factory=list)
    _listener: Listener | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> RecordingServer:
        self._listener = await open_listener(self.uri, self._on_transport, max_frame_size=2**24 - 1)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._listener is not None
        self._listener.close()
        for connection in self.connections:
            await connection.aclose()
        await self._listener.wait_closed()

    @property
    def bound_uri(self) -> str:
        assert self._listener is not None
        return self._listener.uri

    def _on_transport(self, transport: FrameTransport) -> None:
        rsocket = RSocket(
            transport,
            Connection(Role.SERVER, ConnectionConfig()),
            handler=self.handler,
            frame_logger=self._log,
        )
        self.connections.append(rsocket)
        rsocket.start()

    def _log(self, direction: Direction, frame: bytes) -> None:
        if direction == "receive":
            self.received.append(decode_frame(frame))
            self._arrived.set()

    async def wait_for(self, wanted: Callable[[Frame], bool]) -> Frame:
        """The first received frame ``wanted`` accepts, waiting (up to TIMEOUT) for it to arrive."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                for frame in self.received:
                    if wanted(frame):
                        return frame
                self._arrived.clear()
                await self._arrived.wait()

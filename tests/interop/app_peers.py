"""Running the Spring-style (routed) peer programs for the app-layer interop tests.

Peers: ``tests/interop/peers/js_messaging`` (rsocket-js 1.0.0-alpha.3 with rsocket-messaging and
rsocket-composite-metadata, installed by ``bash scripts/install --peers``) and rsocket-py 0.4.20
(the ``[test]`` extra).  Everything is async so that our in-process server keeps serving while a
peer client runs.  A missing node, npm package or rsocket-py raises :class:`PeerMissingError`,
which fails the test: interop tests never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

PEERS_DIR: Final = Path(__file__).resolve().parent / "peers"
JS_MESSAGING: Final = PEERS_DIR / "js_messaging"
RSOCKET_PY: Final = PEERS_DIR / "rsocket_py"
JS_PACKAGES: Final = {
    "rsocket-core": "1.0.0-alpha.3",
    "rsocket-composite-metadata": "1.0.0-alpha.3",
    "rsocket-messaging": "1.0.0-alpha.3",
    "rsocket-tcp-client": "1.0.0-alpha.3",
    "rsocket-tcp-server": "1.0.0-alpha.3",
}
RSOCKET_PY_VERSION: Final = "0.4.20"
TIMEOUT: Final = 60.0


class PeerMissingError(AssertionError):
    """A peer implementation is not installed; the test fails with how to install it."""


def node() -> str:
    path = shutil.which("node")
    if path is None:
        raise PeerMissingError(
            "node is not on PATH; install Node.js >= 18, then `bash scripts/install --peers`"
        )
    problems = []
    for package, version in JS_PACKAGES.items():
        manifest = JS_MESSAGING / "node_modules" / package / "package.json"
        try:
            found = json.loads(manifest.read_text(encoding="utf-8"))["version"]
        except (OSError, ValueError, KeyError):
            problems.append(f"{package} is missing")
            continue
        if found != version:
            problems.append(f"{package} is {found}, need {version}")
    if problems:
        raise PeerMissingError(
            f"{'; '.join(problems)}: run `npm ci` in tests/interop/peers/js_messaging "
            "(bash scripts/install --peers does it)"
        )
    return path


def python_with_rsocket_py() -> str:
    try:
        found = importlib.metadata.version("rsocket")
    except importlib.metadata.PackageNotFoundError:
        raise PeerMissingError(
            f"rsocket-py is not installed: pip install rsocket=={RSOCKET_PY_VERSION} (the [test] extra)"
        ) from None
    if found != RSOCKET_PY_VERSION:
        raise PeerMissingError(f"rsocket-py {found} is installed; these tests pin {RSOCKET_PY_VERSION}")
    return sys.executable


async def run_client(*argv: str) -> dict[str, Any]:
    """Run a peer client to completion (within TIMEOUT); its one JSON line on stdout, as a dict."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"peer client {argv[1:]} ran over {TIMEOUT} s") from None
    output = f"stdout: {stdout.decode()}\nstderr: {stderr.decode()}"
    assert proc.returncode == 0, f"peer client {argv[1:]} exited {proc.returncode}\n{output}"
    lines = [line for line in stdout.decode().splitlines() if line.strip()]
    assert lines, f"peer client {argv[1:]} printed no result\n{output}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert result.get("ok"), f"peer client could not run its scenario: {result}\n{output}"
    return result


@contextlib.asynccontextmanager
async def peer_server(*argv: str) -> AsyncIterator[int]:
    """Start a peer server that prints ``READY <port>``; yields the port, kills the server after.

    Its stderr is inherited, so pytest shows it when a test fails.
    """
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
        except TimeoutError:
            line = b""
        if not line.startswith(b"READY "):
            raise AssertionError(f"peer server {argv[1:]} did not start: it printed {line!r}")
        yield int(line.split()[1])
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()

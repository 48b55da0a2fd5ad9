"""Real-peer side of the interop tests: start rsocket-js / rsocket-py servers, run their clients.

Peers (all over TCP on 127.0.0.1 only):

* ``js_legacy``  - rsocket-js 0.0.27 (``tests/interop/peers/js_legacy``)
* ``js_v1``      - rsocket-js 1.0.0-alpha.3 (``tests/interop/peers/js_v1``)
* ``rsocket_py`` - rsocket-py 0.4.20 (PyPI ``rsocket``), run with ``sys.executable``

Every peer server implements the conformance semantics (per connection): request/response
``error`` -> ERROR[APPLICATION_ERROR 0x201] ``boom``; ``count`` / ``pushcount`` -> number of
fire-and-forgets / metadata pushes received on this connection so far; anything else ->
``echo:`` + data with the metadata echoed. request/stream ``N`` -> items ``0`` .. ``N-1``,
generated only as request-n credit arrives. request/channel echoes every payload and completes
when the requester does. With composite metadata in SETUP, a routing entry (``echo``, ``stream``,
``channel``, ``fnf``, ``count``, ``pushcount``, ``error``) selects the handler. ``--reject-setup``
answers SETUP with ERROR[REJECTED_SETUP] ``go away`` (rsocket-js 0.0.27 can only say
``Application rejected setup, reason: go away``).

Every peer client runs one named scenario (:data:`SCENARIOS`) and prints one JSON line, returned
by :func:`run_peer_client` as a dict: ``{"ok": true, ...}`` when every expectation of the scenario
held, else ``{"ok": false, "error": "...", "code": <int|None>, ...}``. ``error`` and
``reject_setup`` report the ``code`` and ``message`` they saw in both cases. ``reject_setup`` also
reports ``connection_ended`` (the connection ended within 1.5 s of the ERROR; the rsocket-js
clients close it themselves on a connection-level ERROR, the rsocket-py client does not, so only
the rsocket-py client observes whether the server closed it) and ``rr_outcome`` (what happened to
a request sent right after SETUP; not judged). Stream and channel results carry
``credit_violations``: items that arrived while the runner had no outstanding request-n credit.

A missing ``node``, npm package or rsocket-py raises :class:`PeerUnavailableError`: interop tests
must fail, never skip.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import IO, Any, Final

PEERS_DIR: Final = Path(__file__).resolve().parent / "peers"
PEERS: Final = ("js_legacy", "js_v1", "rsocket_py")
SCENARIOS: Final = (
    "rr",
    "stream",
    "stream_cancel",
    "channel",
    "fnf_count",
    "metadata_push",
    "error",
    "large",
    "concurrent",
    "keepalive",
    "reject_setup",
)
LOOPBACK: Final = "127.0.0.1"
RSOCKET_PY_VERSION: Final = "0.4.20"
MIN_NODE_MAJOR: Final = 18  # net.createServer({noDelay}) / net.connect({noDelay})
NODE_PACKAGES: Final[dict[str, dict[str, str]]] = {
    "js_legacy": {
        "rsocket-core": "0.0.27",
        "rsocket-flowable": "0.0.27",
        "rsocket-tcp-client": "0.0.27",
        "rsocket-tcp-server": "0.0.27",
    },
    "js_v1": {
        "rsocket-core": "1.0.0-alpha.3",
        "rsocket-composite-metadata": "1.0.0-alpha.3",
        "rsocket-tcp-client": "1.0.0-alpha.3",
        "rsocket-tcp-server": "1.0.0-alpha.3",
    },
}
_STDERR_TAIL: Final = 4000


class PeerUnavailableError(RuntimeError):
    """A peer implementation (node, an npm package, rsocket-py) is not installed."""


class PeerProcessError(RuntimeError):
    """A peer process failed: no READY line, crashed, timed out or printed no result."""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (bind-and-release; nothing is ever sent on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@cache
def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise PeerUnavailableError(
            "node is not on PATH: the rsocket-js interop peers need Node.js "
            f">= {MIN_NODE_MAJOR} (CI uses v20); install it, then run `npm ci` in "
            "tests/interop/peers/js_legacy and tests/interop/peers/js_v1"
        )
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False)
    version = out.stdout.strip().lstrip("v")
    major = version.split(".", 1)[0]
    if out.returncode != 0 or not major.isdigit() or int(major) < MIN_NODE_MAJOR:
        raise PeerUnavailableError(f"{node} reports version {version!r}; need Node.js >= {MIN_NODE_MAJOR}")
    return node


def _check_node_packages(peer: str) -> None:
    peer_dir = PEERS_DIR / peer
    problems: list[str] = []
    for package, wanted in NODE_PACKAGES[peer].items():
        manifest = peer_dir / "node_modules" / package / "package.json"
        try:
            found = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            problems.append(f"{package} is missing")
            continue
        if found != wanted:
            problems.append(f"{package} is {found}, need {wanted}")
    if problems:
        raise PeerUnavailableError(
            f"peer {peer}: {'; '.join(problems)}; "
            f"run `npm ci` in {peer_dir.relative_to(PEERS_DIR.parents[2])}"
        )


def _check_rsocket_py() -> None:
    try:
        found = importlib.metadata.version("rsocket")
    except importlib.metadata.PackageNotFoundError:
        raise PeerUnavailableError(
            f"rsocket-py is not installed for {sys.executable}; "
            f"install it with `{sys.executable} -m pip install rsocket=={RSOCKET_PY_VERSION}` "
            "(it is in the [test] extra)"
        ) from None
    if found != RSOCKET_PY_VERSION:
        raise PeerUnavailableError(
            f"rsocket-py {found} is installed for {sys.executable}; the interop peers are pinned "
            f"to {RSOCKET_PY_VERSION}"
        )


def require_peer(peer: str) -> None:
    """Raise :class:`PeerUnavailableError` unless ``peer`` can run here."""
    if peer not in PEERS:
        raise ValueError(f"unknown peer {peer!r}; expected one of {PEERS}")
    if peer == "rsocket_py":
        _check_rsocket_py()
    else:
        _node()
        _check_node_packages(peer)


def peer_command(peer: str, role: str, args: Sequence[str]) -> list[str]:
    """The command line that runs ``peer``'s ``role`` (``"server"`` or ``"client"``)."""
    if role not in ("server", "client"):
        raise ValueError(f"role must be 'server' or 'client', not {role!r}")
    require_peer(peer)
    if peer == "rsocket_py":
        return [sys.executable, str(PEERS_DIR / "rsocket_py" / f"{role}.py"), *args]
    return [_node(), str(PEERS_DIR / peer / f"{role}.js"), *args]


def _tail(stream: IO[bytes]) -> str:
    stream.flush()
    stream.seek(0)
    text = stream.read().decode("utf-8", "replace")
    return text[-_STDERR_TAIL:] if text else "<empty>"


def _wait_ready(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Read stdout until the ``READY <port>`` line; bounded by ``timeout`` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerProcessError(f"no READY line within {timeout:g} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise PeerProcessError(f"exited with code {proc.wait(timeout=5)} before printing READY")
            buffer += chunk
            if len(buffer) > 4096:
                raise PeerProcessError(f"unexpected stdout before READY: {buffer[:200]!r}")
    line = buffer.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    parts = line.split()
    if len(parts) != 2 or parts[0] != "READY" or not parts[1].isdigit():
        raise PeerProcessError(f"expected 'READY <port>', got {line!r}")
    return int(parts[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def start_peer_server(
    peer: str,
    *,
    reject_setup: bool = False,
    ready_timeout: float = 20.0,
    extra_args: Sequence[str] = (),
    expect_alive: bool = True,
) -> Iterator[int]:
    """Run ``peer``'s conformance server on a free 127.0.0.1 port; yield the port.

    The server is started with ``--port 0`` and the real port is read from its ``READY <port>``
    line. It is terminated on exit. Its stderr is kept in a temporary file and attached to any
    failure: no READY line, an exception in the ``with`` body, or (with ``expect_alive``) the
    server having exited on its own before the body finished.
    """
    args = ["--port", "0", *(["--reject-setup"] if reject_setup else []), *extra_args]
    cmd = peer_command(peer, "server", args)
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        try:
            try:
                port = _wait_ready(proc, ready_timeout)
            except PeerProcessError as exc:
                _stop(proc)
                raise PeerProcessError(
                    f"{peer} server ({' '.join(cmd)}): {exc}; stderr:\n{_tail(stderr)}"
                ) from None
            try:
                yield port
            except BaseException as exc:
                exc.add_note(f"{peer} server stderr:\n{_tail(stderr)}")
                raise
            code = proc.poll()
            if expect_alive and code is not None:
                raise PeerProcessError(
                    f"{peer} server exited with code {code} during the test; stderr:\n{_tail(stderr)}"
                )
        finally:
            _stop(proc)


def run_peer_client(
    peer: str,
    port: int,
    scenario: str,
    route_mode: bool = False,
    timeout: float = 60,
) -> dict[str, Any]:
    """Run ``peer``'s client scenario against 127.0.0.1:``port`` and return its JSON result.

    Each bounded wait inside the runner gets a quarter of ``timeout`` (at least 2 s), so a peer
    that stops answering yields ``{"ok": false, "error": "timeout ..."}`` before the process is
    killed at ``timeout``. The runner's stderr (tail) is added under ``"stderr"``. Raises
    :class:`PeerProcessError` if the runner crashes, times out or prints no JSON result.
    """
    cmd = peer_command(peer, "client", scenario_args(port, scenario, route_mode, timeout))
    return run_scenario_command(cmd, f"{peer} client {scenario}", timeout)


def scenario_args(port: int, scenario: str, route_mode: bool, timeout: float) -> list[str]:
    """The arguments every scenario runner takes; each bounded wait inside gets a quarter of
    ``timeout`` (at least 2 s)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
    step_ms = max(2000, int(timeout * 1000 / 4))
    args = ["--port", str(port), "--scenario", scenario, "--timeout-ms", str(step_ms)]
    if route_mode:
        args.append("--route-mode")
    return args


def run_scenario_command(cmd: list[str], label: str, timeout: float) -> dict[str, Any]:
    """Run a scenario runner's command line and return the JSON result of its last line."""
    try:
        done = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"").decode("utf-8", "replace")[-_STDERR_TAIL:]
        raise PeerProcessError(f"{label} did not finish within {timeout:g} s; stderr:\n{err}") from None
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")[-_STDERR_TAIL:]
    lines = [line for line in stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise PeerProcessError(
            f"{label} exited with code {done.returncode}; "
            f"stdout:\n{stdout[-_STDERR_TAIL:]}\nstderr:\n{stderr}"
        )
    try:
        result = json.loads(lines[-1])
    except ValueError:
        raise PeerProcessError(f"{label} printed no JSON result: {lines[-1]!r}") from None
    if not isinstance(result, dict) or "ok" not in result:
        raise PeerProcessError(f"{label} result lacks 'ok': {lines[-1]!r}")
    result.setdefault("stderr", stderr)
    return result

"""The real peers over WebSocket and QUIC: the ``ws_*`` / ``quic_*`` variants of the TCP peer scripts.

Same contract as :mod:`interop.harness` (a ``READY <port>`` line from servers, one JSON result
line per client scenario, :class:`~interop.harness.PeerUnavailableError` when a peer is missing,
so tests fail rather than skip); only the script differs:

* WebSocket (path ``/rsocket``): ``js_legacy``, ``js_v1`` and ``rsocket_py`` each have
  ``ws_server`` / ``ws_client``, which run that peer's TCP ``server`` / ``client`` code unchanged
  over the library's own WebSocket transport.
* QUIC: rsocket-py only (rsocket-js has no QUIC transport): ``quic_server`` / ``quic_client``
  over rsocket-py's aioquic transport; they take ``--certfile``/``--keyfile`` and ``--cafile``.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, Final

from interop.harness import (
    PEERS_DIR,
    PeerProcessError,
    _node,
    _stop,
    _tail,
    _wait_ready,
    require_peer,
    run_scenario_command,
    scenario_args,
)

WS_PATH: Final = "/rsocket"
WS_PEERS: Final = ("js_legacy", "js_v1", "rsocket_py")
QUIC_PEERS: Final = ("rsocket_py",)


def peer_script(peer: str, script: str, args: Sequence[str]) -> list[str]:
    """The command line running ``peer``'s ``script`` (``ws_server``, ``quic_client``, ...)."""
    require_peer(peer)
    if peer == "rsocket_py":
        path = PEERS_DIR / "rsocket_py" / f"{script}.py"
        command = [sys.executable, str(path)]
    else:
        path = PEERS_DIR / peer / f"{script}.js"
        command = [_node(), str(path)]
    if not path.is_file():
        raise ValueError(f"peer {peer} has no {script} script ({path})")
    return [*command, *args]


@contextlib.contextmanager
def start_peer_script_server(
    peer: str, script: str, *, reject_setup: bool = False, extra_args: Sequence[str] = ()
) -> Iterator[int]:
    """Run ``peer``'s ``script`` server on a free 127.0.0.1 port; yield the port, stop it on exit."""
    args = ["--port", "0", *(["--reject-setup"] if reject_setup else []), *extra_args]
    cmd = peer_script(peer, script, args)
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        try:
            try:
                port = _wait_ready(proc, 20.0)
            except PeerProcessError as exc:
                raise PeerProcessError(f"{' '.join(cmd)}: {exc}; stderr:\n{_tail(stderr)}") from None
            try:
                yield port
            except BaseException as exc:
                exc.add_note(f"{peer} {script} stderr:\n{_tail(stderr)}")
                raise
            code = proc.poll()
            if code is not None:
                raise PeerProcessError(f"{peer} {script} exited with code {code}; stderr:\n{_tail(stderr)}")
        finally:
            _stop(proc)


def run_peer_script_client(
    peer: str,
    script: str,
    port: int,
    scenario: str,
    *,
    route_mode: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = 60,
) -> dict[str, Any]:
    """Run one scenario with ``peer``'s ``script`` client against 127.0.0.1:``port``; its JSON result."""
    cmd = peer_script(peer, script, [*extra_args, *scenario_args(port, scenario, route_mode, timeout)])
    return run_scenario_command(cmd, f"{peer} {script} {scenario}", timeout)


CONFORMANCE_SERVER: Final = PEERS_DIR.parents[2] / "examples" / "conformance_server.py"


@contextlib.contextmanager
def start_conformance_server(uris: Sequence[str], extra_args: Sequence[str] = ()) -> Iterator[list[int]]:
    """Run our conformance server (its own process) on ``uris``; yield the bound ports, in order."""
    cmd = [sys.executable, str(CONFORMANCE_SERVER)]
    for uri in uris:
        cmd += ["--uri", uri]
    cmd += extra_args
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            parts = line.split()
            if not parts or parts[0] != "READY" or len(parts) != len(uris) + 1:
                raise PeerProcessError(f"our conformance server said {line!r}; stderr:\n{_tail(stderr)}")
            yield [int(port) for port in parts[1:]]
            if proc.poll() is not None:
                raise PeerProcessError(f"our conformance server died during the tests:\n{_tail(stderr)}")
        finally:
            _stop(proc)

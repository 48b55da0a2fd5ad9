"""The CLI against real peers' servers (rsocket-js 0.0.27, 1.0.0-alpha.3, rsocket-py), over TCP and WebSocket.

Each peer server implements the conformance semantics (see ``interop/harness.py``); with composite
SETUP metadata a routing entry picks the handler, which is how ``--route`` is checked.  Known peer
bug pinned, not skipped: rsocket-js 1.0.0-alpha.3 drops the connection on METADATA_PUSH, so
``push`` is not sent to it.  A missing node / npm package / rsocket-py fails these tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest

from aiorsocket.cli.request import EXIT_APPLICATION_ERROR, EXIT_CONNECTION, EXIT_OK
from interop.harness import PEERS, start_peer_server
from interop.transport_harness import WS_PATH, start_peer_script_server
from support.cli import run_cli_sync

pytestmark = pytest.mark.interop

TARGETS = [(peer, transport) for peer in PEERS for transport in ("tcp", "ws")]


def _server(peer: str, transport: str, *, reject_setup: bool = False) -> AbstractContextManager[int]:
    if transport == "tcp":
        return start_peer_server(peer, reject_setup=reject_setup)
    return start_peer_script_server(peer, "ws_server", reject_setup=reject_setup)


def _uri(transport: str, port: int) -> str:
    return f"tcp://127.0.0.1:{port}" if transport == "tcp" else f"ws://127.0.0.1:{port}{WS_PATH}"


@pytest.fixture(scope="module", params=TARGETS, ids=[f"{peer}-{transport}" for peer, transport in TARGETS])
def peer(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(peer name, URI of its running server)."""
    name, transport = request.param
    with _server(name, transport) as port:
        yield name, _uri(transport, port)


def test_request_response_with_metadata(peer: tuple[str, str]) -> None:
    _, uri = peer
    result = run_cli_sync("request", uri, "-d", "hello", "-m", "meta", "--show-metadata")
    assert (result.returncode, result.out) == (EXIT_OK, "meta\techo:hello\n"), result.stderr


def test_stream_in_request_n_batches_with_take(peer: tuple[str, str]) -> None:
    _, uri = peer
    result = run_cli_sync("stream", uri, "-d", "30", "--request-n", "5", "--batch", "5")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.lines == [str(i) for i in range(30)]
    taken = run_cli_sync("stream", uri, "-d", "1000", "--take", "4", "--debug")
    assert taken.lines == ["0", "1", "2", "3"]
    assert ">> CANCEL stream=1 flags=-" in taken.stderr


def test_channel_from_stdin(peer: tuple[str, str]) -> None:
    _, uri = peer
    result = run_cli_sync("channel", uri, "-d", "-", stdin=b"alpha\nbeta\ngamma\n")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.lines == ["alpha", "beta", "gamma"]


def test_routed_requests(peer: tuple[str, str]) -> None:
    _, uri = peer
    echo = run_cli_sync("request", uri, "--route", "echo", "-d", "routed")
    assert (echo.returncode, echo.out) == (EXIT_OK, "echo:routed\n"), echo.stderr
    stream = run_cli_sync("stream", uri, "--route", "stream", "-d", "3")
    assert stream.lines == ["0", "1", "2"], stream.stderr


def test_application_error_exit_1(peer: tuple[str, str]) -> None:
    _, uri = peer
    result = run_cli_sync("request", uri, "-d", "error")
    assert result.returncode == EXIT_APPLICATION_ERROR
    assert "(0x201): boom" in result.stderr


def test_fire_and_forget_and_metadata_push(peer: tuple[str, str]) -> None:
    name, uri = peer
    assert run_cli_sync("fnf", uri, "-d", "note").returncode == EXIT_OK
    if name != "js_v1":
        assert run_cli_sync("push", uri, "-m", "refresh").returncode == EXIT_OK


@pytest.mark.parametrize(("name", "transport"), TARGETS, ids=[f"{p}-{t}" for p, t in TARGETS])
def test_rejected_setup_exit_3(name: str, transport: str) -> None:
    with _server(name, transport, reject_setup=True) as port:
        result = run_cli_sync("request", _uri(transport, port), "-d", "x")
    assert result.returncode == EXIT_CONNECTION, result.stderr
    assert "the server refused the SETUP: " in result.stderr
    assert "go away" in result.stderr

"""Every client command over every URI scheme a separate process can reach, against our conformance server.

The conformance server (``examples/conformance_server.py``, its own process) listens on tcp, tls,
tcp+tls, ws, wss, unix and quic at once; each scheme runs request/response, a stream in request-n
batches, a channel fed line by line from stdin, fire-and-forget, metadata push and a routed request.
``local://`` is in-process only; the CLI refuses it (see test_cli_exit_codes).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiorsocket.cli.request import EXIT_APPLICATION_ERROR, EXIT_CONNECTION, EXIT_OK
from interop.transport_harness import start_conformance_server
from support.certs import PKI, make_pki
from support.cli import run_cli_sync

SCHEMES = ("tcp", "tls", "tcp+tls", "ws", "wss", "unix", "quic")
SECURE = frozenset({"tls", "tcp+tls", "wss", "quic"})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def endpoints(pki: PKI) -> Iterator[dict[str, list[str]]]:
    """Client URI (plus TLS options) for each scheme, all served by one conformance server process."""
    # Unix socket paths are limited to ~100 bytes; pytest's tmp_path can be longer.
    directory = Path(tempfile.mkdtemp(prefix="ars-cli-", dir="/tmp"))
    listen = {
        "tcp": "tcp://127.0.0.1:0",
        "tls": "tls://127.0.0.1:0",
        "tcp+tls": "tcp+tls://127.0.0.1:0",
        "ws": "ws://127.0.0.1:0/rsocket",
        "wss": "wss://127.0.0.1:0/rsocket",
        "unix": f"unix://{directory}/cli.sock",
        "quic": "quic://127.0.0.1:0",
    }
    try:
        with start_conformance_server(
            list(listen.values()),
            ["--certfile", str(pki.server_cert), "--keyfile", str(pki.server_key)],
        ) as ports:
            uris: dict[str, list[str]] = {}
            for (scheme, uri), port in zip(listen.items(), ports, strict=True):
                bound = uri.replace(":0", f":{port}", 1) if port else uri
                uris[scheme] = [bound, *(["--ca-file", str(pki.ca)] if scheme in SECURE else [])]
            yield uris
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=SCHEMES)
def target(request: pytest.FixtureRequest, endpoints: dict[str, list[str]]) -> list[str]:
    return endpoints[request.param]


def test_request_response(target: list[str]) -> None:
    result = run_cli_sync("request", *target, "-d", "hello", "-m", "meta", "--show-metadata")
    assert (result.returncode, result.out) == (EXIT_OK, "meta\techo:hello\n"), result.stderr


def test_stream_in_request_n_batches(target: list[str]) -> None:
    result = run_cli_sync("stream", *target, "-d", "25", "--request-n", "4", "--batch", "2", "--debug")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.lines == [str(i) for i in range(25)]
    assert "    initial_request_n: 4" in result.stderr
    assert "    request_n: 2" in result.stderr


def test_stream_take_cancels(target: list[str]) -> None:
    result = run_cli_sync("stream", *target, "-d", "1000000", "--take", "3", "--debug")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.lines == ["0", "1", "2"]
    assert ">> CANCEL stream=1 flags=-" in result.stderr


def test_channel_from_stdin_lines(target: list[str]) -> None:
    result = run_cli_sync("channel", *target, "-d", "-", stdin=b"one\ntwo\r\n\nfour")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.lines == ["one", "two", "", "four"]


def test_fire_and_forget_and_metadata_push(target: list[str]) -> None:
    assert run_cli_sync("fnf", *target, "-d", "note").returncode == EXIT_OK
    assert run_cli_sync("push", *target, "-m", "refresh").returncode == EXIT_OK


def test_routed_request_and_application_error(target: list[str]) -> None:
    routed = run_cli_sync("request", *target, "--route", "echo", "-d", "via route")
    assert (routed.returncode, routed.out) == (EXIT_OK, "echo:via route\n"), routed.stderr
    failed = run_cli_sync("request", *target, "--route", "error")
    assert failed.returncode == EXIT_APPLICATION_ERROR
    assert failed.stderr.endswith("APPLICATION_ERROR (0x201): boom\n")


@pytest.mark.parametrize("scheme", sorted(SECURE))
def test_tls_verification_failure_is_a_connection_error(
    scheme: str, endpoints: dict[str, list[str]], pki: PKI
) -> None:
    uri = endpoints[scheme][0]
    result = run_cli_sync("request", uri, "--ca-file", str(pki.other_ca), "-d", "x")
    assert result.returncode == EXIT_CONNECTION, result.stderr
    insecure = run_cli_sync("request", uri, "--insecure", "-d", "x")
    assert (insecure.returncode, insecure.out) == (EXIT_OK, "echo:x\n"), insecure.stderr


def test_rejected_setup_over_websocket() -> None:
    with start_conformance_server(["ws://127.0.0.1:0/rsocket"], ["--reject-setup"]) as (port,):
        result = run_cli_sync("request", f"ws://127.0.0.1:{port}/rsocket", "-d", "x")
    assert result.returncode == EXIT_CONNECTION
    assert result.stderr.endswith("the server refused the SETUP: REJECTED_SETUP (0x3): go away\n")

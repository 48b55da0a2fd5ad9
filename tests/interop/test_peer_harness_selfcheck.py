"""Keeps the real-peer harness honest without our engine: peers talk to each other.

rsocket-js 0.0.27 client -> rsocket-py server, and rsocket-py client -> rsocket-js 1.0 server,
for request/response, request/stream and an application error. A missing node, npm package or
rsocket-py fails these tests (PeerUnavailableError), never skips them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interop.harness import run_peer_client, start_peer_server

pytestmark = pytest.mark.interop

PAIRS = [("js_legacy", "rsocket_py"), ("rsocket_py", "js_v1")]


@pytest.fixture(scope="module")
def server_ports() -> Iterator[dict[str, int]]:
    with start_peer_server("rsocket_py") as py_port, start_peer_server("js_v1") as v1_port:
        yield {"rsocket_py": py_port, "js_v1": v1_port}


@pytest.mark.parametrize(("client", "server"), PAIRS)
def test_request_response(server_ports: dict[str, int], client: str, server: str) -> None:
    result = run_peer_client(client, server_ports[server], "rr")
    assert result["ok"], result
    assert result["data"] == "echo:hello"
    assert result["metadata"] == "meta"


@pytest.mark.parametrize(("client", "server"), PAIRS)
def test_request_stream(server_ports: dict[str, int], client: str, server: str) -> None:
    result = run_peer_client(client, server_ports[server], "stream")
    assert result["ok"], result
    assert result["items"] == [str(i) for i in range(100)]
    assert result["credit_violations"] == 0


@pytest.mark.parametrize(("client", "server"), PAIRS)
def test_application_error(server_ports: dict[str, int], client: str, server: str) -> None:
    result = run_peer_client(client, server_ports[server], "error")
    assert result["ok"], result
    assert (result["code"], result["message"]) == (0x201, "boom")

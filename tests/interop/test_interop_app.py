"""Spring-style (routed) interop: real peers' routing clients call our Router app, our Requester calls
their routed servers.

Peers: rsocket-js 1.0.0-alpha.3 with rsocket-messaging + rsocket-composite-metadata
(``tests/interop/peers/js_messaging``) and rsocket-py 0.4.20's routing client and RequestRouter.
These are the paths peers.md complaint #11 is about ("metadata is malformed", "No handler for
destination ''"): composite metadata with a routing entry (checklist §5.1/§5.2), auth entries
(§5.4, simple and bearer, in SETUP and per request), per-stream MIME (§5.5), and plain routing
metadata as the SETUP's metadata MIME.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

import aiorsocket
from aiorsocket.app import Requester, Router
from aiorsocket.errors import ApplicationError, ErrorCode, RejectedSetupError
from aiorsocket.extensions import SimpleAuth, parse_composite_metadata
from interop.app_peers import (
    JS_MESSAGING,
    RSOCKET_PY,
    PeerMissingError,
    node,
    peer_server,
    python_with_rsocket_py,
    run_client,
)
from interop.routed_app import AppState, build_app

pytestmark = pytest.mark.interop

Served = tuple[aiorsocket.Server, AppState]


@pytest.fixture
async def routed_server() -> AsyncIterator[Served]:
    state = AppState()
    async with aiorsocket.serve(build_app(state), "tcp://127.0.0.1:0") as server:
        yield server, state


def js_client(port: int, scenario: str) -> list[str]:
    return [node(), str(JS_MESSAGING / "routed_client.js"), "--port", str(port), "--scenario", scenario]


def py_client(port: int, scenario: str) -> list[str]:
    return [
        python_with_rsocket_py(),
        str(RSOCKET_PY / "routed_client.py"),
        "--port",
        str(port),
        "--scenario",
        scenario,
    ]


CLIENTS = {
    "rsocket-js-messaging": (js_client, "js", "rsocket-js"),
    "rsocket-py": (py_client, "py", "rsocket-py"),
}


def value(results: dict[str, Any], step: str) -> Any:
    outcome = results[step]
    assert "error" not in outcome, f"{step}: {outcome['error']}"
    return outcome.get("value")


def error(results: dict[str, Any], step: str) -> dict[str, Any]:
    outcome = results[step]
    assert "error" in outcome, f"{step}: expected an ERROR, got {outcome}"
    failure: dict[str, Any] = outcome["error"]
    return failure


@pytest.mark.parametrize("peer", sorted(CLIENTS))
async def test_spring_style_clients_call_every_interaction_model_with_routing_json_and_simple_auth(
    routed_server: Served, peer: str
) -> None:
    """Composite metadata route + simple auth in SETUP, JSON bodies: RR, stream (request-n in
    batches of 3), channel, FNF, SETUP route reaching a @connect hook, and a server-to-client call."""
    server, state = routed_server
    make, client_id, client_name = CLIENTS[peer]
    results = (await run_client(*make(server.port, "composite")))["results"]
    assert value(results, "user") == {"id": 7, "name": "user-7"}
    assert value(results, "echo") == {"body": {"hello": "world"}, "principal": "alice"}
    assert value(results, "numbers") == [{"n": n} for n in range(10)]
    assert value(results, "sum") == [1, 3, 6, 10]
    assert value(results, "audit_count") == 1
    assert state.audit == [{"event": client_id, "by": "alice"}]
    assert value(results, "created") == {"id": 100, "name": "Eve"}
    assert value(results, "callback") == {"client": client_name}
    assert state.clients == [client_id]


@pytest.mark.parametrize("peer", sorted(CLIENTS))
async def test_spring_style_clients_get_the_error_codes_the_router_promises(
    routed_server: Served, peer: str
) -> None:
    """Unknown route -> APPLICATION_ERROR naming it; missing role -> REJECTED; a body that does not
    validate -> INVALID with the reason; a per-request bearer token lifts the caller's rights."""
    server, _ = routed_server
    make, client_id, _ = CLIENTS[peer]
    results = (await run_client(*make(server.port, "composite")))["results"]
    unknown = error(results, "unknown")
    assert unknown["code"] == ErrorCode.APPLICATION_ERROR
    assert "no.such.route" in unknown["message"]
    rejected = error(results, "rejected")
    assert rejected["code"] == ErrorCode.REJECTED
    assert "admin" in rejected["message"]
    invalid = error(results, "invalid")
    assert invalid["code"] == ErrorCode.INVALID
    assert "email" in invalid["message"]
    assert value(results, "bearer_stats") == {"clients": [client_id], "caller": "robot"}


@pytest.mark.parametrize("peer", sorted(CLIENTS))
async def test_spring_style_clients_authenticate_the_connection_with_a_bearer_token(
    routed_server: Served, peer: str
) -> None:
    server, _ = routed_server
    make, _, _ = CLIENTS[peer]
    results = (await run_client(*make(server.port, "bearer_setup")))["results"]
    assert value(results, "stats") == {"clients": [], "caller": "robot"}
    assert value(results, "echo") == {"body": {"via": "bearer"}, "principal": "robot"}


@pytest.mark.parametrize("peer", sorted(CLIENTS))
async def test_bad_setup_credentials_from_peers_get_rejected_setup_with_the_reason(
    routed_server: Served, peer: str
) -> None:
    server, _ = routed_server
    make, _, _ = CLIENTS[peer]
    results = (await run_client(*make(server.port, "bad_setup")))["results"]
    refused = error(results, "setup")
    assert refused["code"] == ErrorCode.REJECTED_SETUP
    assert "alice" in refused["message"]


async def test_rsocket_js_with_routing_mime_as_setup_metadata_mime_is_routed(routed_server: Served) -> None:
    """message/x.rsocket.routing.v0 as the SETUP's metadata MIME: request metadata is bare tags."""
    server, _ = routed_server
    results = (await run_client(*js_client(server.port, "routing_mime")))["results"]
    assert value(results, "user") == {"id": 8, "name": "user-8"}
    assert value(results, "echo") == {"body": {"plain": "routing"}, "principal": None}
    unknown = error(results, "unknown")
    assert unknown["code"] == ErrorCode.APPLICATION_ERROR
    assert "missing.route" in unknown["message"]


async def test_rsocket_py_per_stream_mime_cbor_request_gets_json_answer_declared_in_metadata(
    routed_server: Served,
) -> None:
    """§5.5: the request declares CBOR data and accepts only JSON; the answer is JSON and its
    metadata says so with a mime-type entry (0xFA = well-known mime-type, 0x85 = application/json)."""
    server, _ = routed_server
    results = (await run_client(*py_client(server.port, "mime")))["results"]
    converted = value(results, "converted")
    assert converted["data"] == {"seen": {"format": "cbor"}}
    metadata = parse_composite_metadata(bytes.fromhex(converted["metadata_hex"]))
    assert metadata.data_mime == "application/json"


# --- our requester -> their routed servers ---------------------------------------------------


def client_router() -> Router:
    client = Router()

    @client.response("client.name")
    async def name() -> str:
        return "aiorsocket"

    return client


async def test_our_requester_calls_a_routed_rsocket_js_messaging_server() -> None:
    """Requester with simple auth in SETUP against rsocket-messaging's RSocketResponder: RR, stream
    with limit_rate, channel, FNF, the server calling our client Router back, and its unknown-route
    error."""
    async with (
        peer_server(node(), str(JS_MESSAGING / "routed_server.js"), "--port", "0") as port,
        Requester.connect(
            f"tcp://127.0.0.1:{port}", auth=SimpleAuth("alice", "secret"), handler=client_router()
        ) as requester,
    ):
        assert await requester.route("greet").data({"name": "Ada"}).retrieve(dict) == {
            "greeting": "Hello, Ada!"
        }
        items = (
            await requester.route("count").data({"count": 10}).retrieve_stream(dict, limit_rate=3).collect()
        )
        assert items == [{"n": n} for n in range(10)]

        async def values() -> AsyncIterator[int]:
            for n in (1, 2, 3, 4):
                yield n

        assert await requester.route("sum").data(values()).retrieve_stream(int, limit_rate=2).collect() == [
            1,
            3,
            6,
            10,
        ]
        await requester.route("log").data({"event": "x"}).send()
        assert await requester.route("log.count").retrieve(int) == 1
        assert await requester.route("whoami").retrieve(dict) == {"client": "aiorsocket"}
        declared = await requester.route("mime").data({"a": 1}, "application/cbor").retrieve(bytes)
        assert declared == b'{"declared":"application/cbor"}'
        with pytest.raises(ApplicationError, match="Route not found"):
            await requester.route("no.such.route").retrieve()


async def test_rsocket_js_routed_server_rejects_our_bad_setup_credentials() -> None:
    async with peer_server(node(), str(JS_MESSAGING / "routed_server.js"), "--port", "0") as port:
        with pytest.raises(RejectedSetupError, match="bad credentials"):
            async with Requester.connect(
                f"tcp://127.0.0.1:{port}", auth=SimpleAuth("alice", "nope")
            ) as requester:
                await requester.route("greet").data({"name": "x"}).retrieve(dict)


async def test_our_requester_calls_a_routed_rsocket_py_server() -> None:
    async with (
        peer_server(python_with_rsocket_py(), str(RSOCKET_PY / "routed_server.py"), "--port", "0") as port,
        Requester.connect(f"tcp://127.0.0.1:{port}") as requester,
    ):
        assert await requester.route("greet").data({"name": "Ada"}).retrieve(dict) == {
            "greeting": "Hello, Ada!"
        }
        items = (
            await requester.route("count").data({"count": 7}).retrieve_stream(dict, limit_rate=2).collect()
        )
        assert items == [{"n": n} for n in range(7)]
        await requester.route("log").data({"event": "x"}).send()
        assert await requester.route("log.count").retrieve(int) == 1
        with pytest.raises(ApplicationError, match="nope"):
            await requester.route("nope").retrieve()


def test_a_missing_node_fails_the_test_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(PeerMissingError, match="node is not on PATH"):
        node()


def test_app_interop_peers_are_installed_so_nothing_is_skipped() -> None:
    """A missing node, npm package or rsocket-py fails here with how to install it."""
    assert node()
    assert python_with_rsocket_py() == sys.executable

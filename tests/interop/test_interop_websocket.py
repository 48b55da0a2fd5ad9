"""Interop over WebSocket with real peers, both directions (§4: one frame per binary message).

* peer client → our conformance server on ``ws://127.0.0.1:0/rsocket`` (its own process):
  rsocket-js 0.0.27 and 1.0.0-alpha.3 (their WebSocket clients on the ``ws`` package) and rsocket-py
  (its ``WebsocketsTransport`` on ``websockets``) run every TCP interop scenario, plain and routed.
* our client → each peer's WebSocket server: the TCP interop tests themselves, imported from
  test_interop_tcp and run here with a ``ws://`` client (``rs`` and ``peer_server`` below).

Peer limitations are pinned as over TCP, never skipped: rsocket-js 1.0.0-alpha.3 cannot send
METADATA_PUSH and drops the connection when it receives one. A missing node / npm package /
rsocket-py fails these tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.errors import RejectedSetupError
from aiorsocket.extensions import COMPOSITE_METADATA_MIME
from interop import test_interop_tcp as tcp
from interop.harness import SCENARIOS
from interop.transport_harness import (
    WS_PATH,
    WS_PEERS,
    run_peer_script_client,
    start_conformance_server,
    start_peer_script_server,
)

pytestmark = pytest.mark.interop


# --- peer client → our server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def our_server() -> Iterator[int]:
    # Fragmented answers, as over TCP: a 1 MiB echo goes out in 64 KiB frames, one message each.
    with start_conformance_server([f"ws://127.0.0.1:0{WS_PATH}"], ["--fragment-size", "65536"]) as ports:
        yield ports[0]


@pytest.fixture(scope="module")
def our_rejecting_server() -> Iterator[int]:
    with start_conformance_server([f"ws://127.0.0.1:0{WS_PATH}"], ["--reject-setup"]) as ports:
        yield ports[0]


@pytest.mark.parametrize("route_mode", [False, True], ids=["plain", "routed"])
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "reject_setup"])
@pytest.mark.parametrize("peer", WS_PEERS)
def test_ws_peer_client_against_our_server(
    our_server: int, peer: str, scenario: str, route_mode: bool
) -> None:
    result = run_peer_script_client(peer, "ws_client", our_server, scenario, route_mode=route_mode)
    if peer == "js_v1" and scenario == "metadata_push":
        assert not result["ok"]
        assert tcp.JS_V1_PUSH_BUG in result["error"], result
        return
    assert result["ok"], result
    if scenario in ("stream", "channel"):
        assert result["credit_violations"] == 0, result
    if scenario == "error":
        assert (result["code"], result["message"]) == (0x201, "boom")


@pytest.mark.parametrize("peer", WS_PEERS)
def test_su7_ws_peer_client_sees_our_rejected_setup(our_rejecting_server: int, peer: str) -> None:
    result = run_peer_script_client(peer, "ws_client", our_rejecting_server, "reject_setup")
    assert result["ok"], repr(result)
    assert (result["code"], result["message"]) == (0x003, "go away")


# --- our client → peer server: the TCP interop tests over ws:// -------------------------------


@pytest.fixture(scope="module", params=WS_PEERS)
def peer_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    with start_peer_script_server(request.param, "ws_server") as port:
        yield request.param, port


@pytest.fixture(params=[False, True], ids=["plain", "routed"])
async def rs(
    request: pytest.FixtureRequest, peer_server: tuple[str, int]
) -> AsyncIterator[tuple[aiorsocket.RSocket, bool]]:
    _, port = peer_server
    routed: bool = request.param
    async with aiorsocket.connect(
        f"ws://127.0.0.1:{port}{WS_PATH}",
        metadata_mime=COMPOSITE_METADATA_MIME if routed else "application/octet-stream",
        data_mime="text/plain",
        fragment_size=65536,
        keepalive_interval=0.1,
        max_lifetime=0.6,
    ) as client:
        yield client, routed


test_rr_echo = tcp.test_rr_echo
test_rs_stream_in_small_request_n_batches = tcp.test_rs_stream_in_small_request_n_batches
test_rs3_stream_cancel_midway_then_connection_still_serves = (
    tcp.test_rs3_stream_cancel_midway_then_connection_still_serves
)
test_rc_channel_echo = tcp.test_rc_channel_echo
test_ff_fire_and_forget_then_count = tcp.test_ff_fire_and_forget_then_count
test_mp_metadata_push_then_pushcount = tcp.test_mp_metadata_push_then_pushcount
test_application_error_code_and_message = tcp.test_application_error_code_and_message
test_fr_one_mebibyte_each_way = tcp.test_fr_one_mebibyte_each_way
test_two_hundred_concurrent_requests = tcp.test_two_hundred_concurrent_requests
test_ka_keepalive_answered_for_many_intervals = tcp.test_ka_keepalive_answered_for_many_intervals


@pytest.mark.parametrize("peer", WS_PEERS)
async def test_su7_rejected_setup_from_ws_peer_server(peer: str) -> None:
    with start_peer_script_server(peer, "ws_server", reject_setup=True) as port:
        async with aiorsocket.connect(f"ws://127.0.0.1:{port}{WS_PATH}") as client:
            with pytest.raises(RejectedSetupError) as info:
                await client.request_response(Payload(b"x"))
    assert "go away" in info.value.message

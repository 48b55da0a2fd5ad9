"""Interop over QUIC with rsocket-py's aioquic transport, both directions.

QUIC is not specified by RSocket (§4); rsocket-py is the one peer that has it, so its mapping is
the de-facto standard our transport matches (see aiorsocket.transports.quic): u24-prefixed frames,
one bidirectional stream per direction, no ALPN, TLS 1.3 with our test CA.

* rsocket-py client → our conformance server on ``quic://127.0.0.1:0``: every TCP interop
  scenario, plain and routed, plus a rejected SETUP.
* our client → rsocket-py's QUIC server: the TCP interop tests themselves, imported from
  test_interop_tcp and run with a ``quic://`` client.

A missing rsocket-py or aioquic fails these tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

import aiorsocket
from aiorsocket import Payload, TLSConfig
from aiorsocket.errors import RejectedSetupError
from aiorsocket.extensions import COMPOSITE_METADATA_MIME
from interop import test_interop_tcp as tcp
from interop.harness import SCENARIOS
from interop.transport_harness import (
    QUIC_PEERS,
    run_peer_script_client,
    start_conformance_server,
    start_peer_script_server,
)
from support.certs import PKI, make_pki

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _cert_args(pki: PKI) -> list[str]:
    return ["--certfile", str(pki.server_cert), "--keyfile", str(pki.server_key)]


# --- peer client → our server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def our_server(pki: PKI) -> Iterator[int]:
    args = ["--fragment-size", "65536", *_cert_args(pki)]
    with start_conformance_server(["quic://127.0.0.1:0"], args) as ports:
        yield ports[0]


@pytest.mark.parametrize("route_mode", [False, True], ids=["plain", "routed"])
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("peer", QUIC_PEERS)
def test_quic_peer_client_against_our_server(
    pki: PKI, our_server: int, peer: str, scenario: str, route_mode: bool
) -> None:
    cafile = ["--cafile", str(pki.ca)]
    if scenario == "reject_setup":
        with start_conformance_server(["quic://127.0.0.1:0"], ["--reject-setup", *_cert_args(pki)]) as ports:
            result = run_peer_script_client(peer, "quic_client", ports[0], scenario, extra_args=cafile)
        assert result["ok"], repr(result)
        assert (result["code"], result["message"]) == (0x003, "go away")
        return
    result = run_peer_script_client(
        peer, "quic_client", our_server, scenario, route_mode=route_mode, extra_args=cafile
    )
    assert result["ok"], result
    if scenario in ("stream", "channel"):
        assert result["credit_violations"] == 0, result
    if scenario == "error":
        assert (result["code"], result["message"]) == (0x201, "boom")


# --- our client → peer server: the TCP interop tests over quic:// -----------------------------


@pytest.fixture(scope="module", params=QUIC_PEERS)
def peer_server(request: pytest.FixtureRequest, pki: PKI) -> Iterator[tuple[str, int]]:
    with start_peer_script_server(request.param, "quic_server", extra_args=_cert_args(pki)) as port:
        yield request.param, port


@pytest.fixture(params=[False, True], ids=["plain", "routed"])
async def rs(
    request: pytest.FixtureRequest, peer_server: tuple[str, int], pki: PKI
) -> AsyncIterator[tuple[aiorsocket.RSocket, bool]]:
    _, port = peer_server
    routed: bool = request.param
    async with aiorsocket.connect(
        f"quic://127.0.0.1:{port}",
        ssl=TLSConfig(cafile=pki.ca),
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


@pytest.mark.parametrize("peer", QUIC_PEERS)
async def test_su7_rejected_setup_from_quic_peer_server(peer: str, pki: PKI) -> None:
    with start_peer_script_server(peer, "quic_server", reject_setup=True, extra_args=_cert_args(pki)) as port:
        async with aiorsocket.connect(f"quic://127.0.0.1:{port}", ssl=TLSConfig(cafile=pki.ca)) as client:
            with pytest.raises(RejectedSetupError) as info:
                await client.request_response(Payload(b"x"))
    assert "go away" in info.value.message

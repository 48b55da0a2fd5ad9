"""Our client against our server over every transport: tcp, tls, tcp+tls, ws, wss, unix, local, quic.

A transport only moves frames (design.md), so every interaction model must behave identically on
each; one server object must serve several transports at once with the same handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.errors import ConnectionError, ConnectionLostError
from aiorsocket.transports.websocket import WebSocketFrameTransport
from support.certs import PKI, make_pki
from support.handlers import InteractionRecorder, exercise_every_interaction_model
from support.transports import SECURE, TRANSPORTS, Endpoint, endpoint_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


Served = tuple[aiorsocket.Server, InteractionRecorder, Endpoint]


@pytest.fixture(params=TRANSPORTS)
async def served(request: pytest.FixtureRequest, pki: PKI) -> AsyncIterator[Served]:
    with endpoint_for(request.param, pki) as endpoint:
        handler = InteractionRecorder()
        async with aiorsocket.serve(handler, endpoint.server_uri, ssl=endpoint.server_ssl) as srv:
            yield srv, handler, endpoint


def connect(srv: aiorsocket.Server, endpoint: Endpoint, **options: Any) -> aiorsocket.connect:
    return aiorsocket.connect(srv.bound_uris[0], ssl=endpoint.client_ssl, **options)


async def test_every_interaction_model(served: Served) -> None:
    srv, handler, endpoint = served
    async with connect(srv, endpoint) as rs:
        await exercise_every_interaction_model(rs, handler)


@pytest.mark.parametrize("fragment_size", [0, 65536], ids=["whole", "fragmented"])
async def test_fr_one_mebibyte_each_way(served: Served, fragment_size: int) -> None:
    srv, _, endpoint = served
    big = bytes(i % 251 for i in range(1 << 20))
    async with connect(srv, endpoint, fragment_size=fragment_size) as rs:
        assert (await rs.request_response(Payload(big))).data == b"echo:" + big


async def test_two_hundred_concurrent_requests(served: Served) -> None:
    srv, _, endpoint = served
    async with connect(srv, endpoint) as rs:
        replies = await asyncio.gather(*(rs.request_response(Payload(b"r%d" % i)) for i in range(200)))
    assert [r.data for r in replies] == [b"echo:r%d" % i for i in range(200)]


async def test_bound_uri_names_the_real_endpoint(served: Served) -> None:
    srv, _, endpoint = served
    (bound,) = srv.bound_uris
    assert bound.split("://")[0] == endpoint.transport
    if endpoint.transport in ("unix", "local"):
        assert bound == endpoint.server_uri
    else:
        assert ":0/" not in bound + "/"
        assert srv.port > 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fl1_frame_over_the_server_limit_ends_only_that_connection(pki: PKI, transport: str) -> None:
    """FL-1 on every transport: the oversized frame ends its connection; the server serves on.

    Byte-stream transports answer ERROR[CONNECTION_ERROR] first; WebSocket refuses the message
    at its header with close 1009 (message too big), before any of it is buffered.
    """
    with endpoint_for(transport, pki) as endpoint:
        uri, ssl = endpoint.server_uri, endpoint.server_ssl
        async with aiorsocket.serve(InteractionRecorder(), uri, ssl=ssl, max_frame_size=4096) as srv:
            async with connect(srv, endpoint) as rs:
                with pytest.raises((ConnectionError, ConnectionLostError)) as info:
                    await rs.request_response(Payload(bytes(10_000)))
                if isinstance(rs.transport, WebSocketFrameTransport):
                    close = rs.transport.websocket.close_rcvd
                    assert close is not None
                    assert close.code == 1009
                else:
                    assert isinstance(info.value, ConnectionError), info.value
                    assert "limit" in info.value.message
            async with connect(srv, endpoint) as rs:
                assert (await rs.request_response(Payload(b"ok"))).data == b"echo:ok"


async def test_one_server_many_transports_share_one_handler(pki: PKI) -> None:
    """One Server object listens on every scheme at once; all connections reach the same handler."""
    handler = InteractionRecorder()
    endpoints = []
    with contextlib.ExitStack() as stack:
        endpoints.extend(stack.enter_context(endpoint_for(transport, pki)) for transport in TRANSPORTS)
        server_ssl = next(e.server_ssl for e in endpoints if e.server_ssl is not None)
        uris = [e.server_uri for e in endpoints]
        async with aiorsocket.serve(handler, *uris, ssl=server_ssl) as srv:
            assert [u.split("://")[0] for u in srv.bound_uris] == list(TRANSPORTS)
            clients = [
                await aiorsocket.connect(uri, ssl=endpoint.client_ssl)
                for uri, endpoint in zip(srv.bound_uris, endpoints, strict=True)
            ]
            for transport, rs in zip(TRANSPORTS, clients, strict=True):
                await rs.fire_and_forget(Payload(transport.encode()))
                assert (await rs.request_response(Payload(b"x"))).data == b"echo:x"
            await handler.wait_for(len(TRANSPORTS))
            assert sorted(handler.fnf) == sorted(t.encode() for t in TRANSPORTS)
            assert len(srv.connections) == len(TRANSPORTS)
        # Closing the server closes every connection on every transport.
        for rs in clients:
            await asyncio.wait_for(rs.wait_closed(), 10)


async def test_plain_listener_ignores_ssl_so_tcp_and_tls_share_a_server(pki: PKI) -> None:
    with endpoint_for("tls", pki) as endpoint:
        async with aiorsocket.serve(
            InteractionRecorder(), "tcp://127.0.0.1:0", endpoint.server_uri, ssl=endpoint.server_ssl
        ) as srv:
            plain, secure = srv.bound_uris
            async with aiorsocket.connect(plain) as rs:
                assert (await rs.request_response(Payload(b"p"))).data == b"echo:p"
                assert rs.transport.get_extra_info("ssl_object") is None
            async with aiorsocket.connect(secure, ssl=endpoint.client_ssl) as rs:
                assert (await rs.request_response(Payload(b"s"))).data == b"echo:s"
                assert rs.transport.get_extra_info("ssl_object") is not None


async def test_failed_bind_releases_the_listeners_already_bound() -> None:
    with tempfile.TemporaryDirectory(prefix="ars-", dir="/tmp") as directory, socket.socket() as busy:
        path = os.path.join(directory, "first.sock")
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            await aiorsocket.serve(InteractionRecorder(), f"unix://{path}", f"tcp://127.0.0.1:{port}")
        assert os.listdir(directory) == []  # the Unix listener bound first was closed and unlinked


@pytest.mark.parametrize("transport", sorted(SECURE))
async def test_secure_transports_carry_tls(pki: PKI, transport: str) -> None:
    with endpoint_for(transport, pki) as endpoint:
        async with (
            aiorsocket.serve(InteractionRecorder(), endpoint.server_uri, ssl=endpoint.server_ssl) as srv,
            connect(srv, endpoint) as rs,
        ):
            await rs.request_response(Payload(b"x"))
            if transport != "quic":  # QUIC's TLS 1.3 lives inside aioquic
                assert rs.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")

"""WebSocket specifics (§4: exactly one RSocket frame per binary WebSocket message, no length prefix).

A raw WebSocket peer (the ``websockets`` library's own client and server) checks what our
transport puts on the wire and how it reacts to what RSocket forbids: text messages, oversized
messages, the wrong path; plus pings, fragmented messages and both closing handshakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

import aiorsocket
from aiorsocket import ErrorCode, Payload
from aiorsocket.errors import ConnectionLostError, LocalProtocolError
from aiorsocket.frames import (
    ErrorFrame,
    Frame,
    PayloadFrame,
    RequestResponseFrame,
    SetupFrame,
    decode_frame,
    encode_frame,
)
from aiorsocket.transports import websocket

SETUP = SetupFrame(60_000, 120_000, "application/octet-stream", "application/octet-stream")


class Echo(aiorsocket.RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        return Payload(b"echo:" + payload.data)


@pytest.fixture
async def server() -> AsyncIterator[aiorsocket.Server]:
    async with aiorsocket.serve(Echo(), "ws://127.0.0.1:0/rsocket", max_frame_size=4096) as srv:
        yield srv


async def raw_client(srv: aiorsocket.Server) -> ClientConnection:
    return await ws_connect(srv.bound_uris[0], compression=None)


async def next_frame(ws: ClientConnection) -> Frame:
    async with asyncio.timeout(5):
        message = await ws.recv()
    assert isinstance(message, bytes), "RSocket frames must travel in binary messages"
    return decode_frame(message)


async def test_one_frame_per_binary_message_without_length_prefix(server: aiorsocket.Server) -> None:
    async with await raw_client(server) as ws:
        await ws.send(encode_frame(SETUP))
        await ws.send(encode_frame(RequestResponseFrame(1, b"hi")))
        frame = await next_frame(ws)
    assert frame == PayloadFrame(1, b"echo:hi", next=True, complete=True)


async def test_a_frame_split_into_websocket_fragments_is_reassembled(server: aiorsocket.Server) -> None:
    request = encode_frame(RequestResponseFrame(1, b"x" * 1000))
    async with await raw_client(server) as ws:
        await ws.send(encode_frame(SETUP))
        await ws.send([request[i : i + 100] for i in range(0, len(request), 100)])
        frame = await next_frame(ws)
    assert frame == PayloadFrame(1, b"echo:" + b"x" * 1000, next=True, complete=True)


async def test_text_message_gets_connection_error_then_close_1003(server: aiorsocket.Server) -> None:
    async with await raw_client(server) as ws:
        await ws.send(encode_frame(SETUP))
        await ws.send("hello")
        frame = await next_frame(ws)
        async with asyncio.timeout(5):
            await ws.wait_closed()
    assert isinstance(frame, ErrorFrame)
    assert frame.stream_id == 0
    assert frame.error_code == ErrorCode.CONNECTION_ERROR
    assert "binary" in frame.message
    assert ws.close_code == 1003


async def test_oversized_message_is_refused_with_close_1009(server: aiorsocket.Server) -> None:
    """FL-1 over WebSocket: the server's 4096-byte limit is its WebSocket message limit too."""
    async with await raw_client(server) as ws:
        await ws.send(encode_frame(SETUP))
        await ws.send(encode_frame(RequestResponseFrame(1, bytes(5000))))
        async with asyncio.timeout(5):
            await ws.wait_closed()
    assert ws.close_code == 1009
    async with aiorsocket.connect(server.bound_uris[0]) as rs:
        assert (await rs.request_response(Payload(b"still"))).data == b"echo:still"


async def test_ping_is_answered_with_pong(server: aiorsocket.Server) -> None:
    async with await raw_client(server) as ws:
        await ws.send(encode_frame(SETUP))
        pong = await ws.ping(b"are you there")
        async with asyncio.timeout(5):
            await pong


async def test_wrong_path_is_a_404_with_a_clear_error(server: aiorsocket.Server) -> None:
    wrong = server.bound_uris[0].replace("/rsocket", "/elsewhere")
    with pytest.raises(InvalidStatus) as raw:
        await ws_connect(wrong)
    assert raw.value.response.status_code == 404
    assert b"/rsocket" in raw.value.response.body
    with pytest.raises(ConnectionLostError, match="404"):
        await aiorsocket.connect(wrong)
    assert server.connections == set()


async def test_unfinished_opening_handshake_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "HANDSHAKE_TIMEOUT", 0.2)
    async with aiorsocket.serve(Echo(), "ws://127.0.0.1:0/rsocket") as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET /rsocket HTTP/1.1\r\n")  # and never the rest
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        writer.close()
        assert srv.connections == set()


async def test_our_client_closes_with_a_close_frame() -> None:
    closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def peer(ws: ServerConnection) -> None:
        try:
            async for _ in ws:
                pass
        finally:
            closed.set_result(ws.close_code)

    async with ws_serve(peer, "127.0.0.1", 0) as raw_server:
        port = next(iter(raw_server.sockets)).getsockname()[1]
        rs = await aiorsocket.connect(f"ws://127.0.0.1:{port}/")
        await rs.aclose()
        async with asyncio.timeout(5):
            assert await closed == 1000


async def test_server_close_sends_connection_close_then_a_close_frame(server: aiorsocket.Server) -> None:
    async with await raw_client(server) as ws:
        await ws.send(encode_frame(SETUP))
        await ws.send(encode_frame(RequestResponseFrame(1, b"hi")))
        await next_frame(ws)
        closing = asyncio.ensure_future(server.close(grace=1))
        frame = await next_frame(ws)
        with pytest.raises(ConnectionClosed):
            await next_frame(ws)
        await closing
    assert isinstance(frame, ErrorFrame)
    assert frame.error_code == ErrorCode.CONNECTION_CLOSE
    assert ws.close_code == 1000


async def test_client_headers_travel_in_the_upgrade_request_and_reach_the_acceptor() -> None:
    """rsocket-cli's -H: headers (auth, tracing) ride the HTTP upgrade; an acceptor reads them
    from the transport's ``request_headers``."""
    seen: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    async def acceptor(
        setup: aiorsocket.ConnectionSetup, rs: aiorsocket.RSocket
    ) -> aiorsocket.RequestHandler:
        headers = rs.transport.get_extra_info("request_headers")
        seen.set_result(headers.get_all("X-Token") + headers.get_all("Authorization"))
        return aiorsocket.RequestHandler()

    async with (
        aiorsocket.serve(acceptor, "ws://127.0.0.1:0/rsocket") as srv,
        aiorsocket.connect(
            f"ws://127.0.0.1:{srv.port}/rsocket", headers={"X-Token": "abc", "Authorization": "Bearer t"}
        ),
    ):
        async with asyncio.timeout(10):
            assert await seen == ["abc", "Bearer t"]


async def test_headers_on_a_scheme_without_an_upgrade_request_are_refused() -> None:
    with pytest.raises(LocalProtocolError, match=r"tcp:// has none \(use ws:// or wss://\)"):
        await aiorsocket.connect("tcp://127.0.0.1:1", headers={"X-Token": "abc"})

"""Peer wire quirks from peers.md that we must accept, each pinned by a test."""

from __future__ import annotations

import socket

import pytest

import aiorsocket
from aiorsocket import Payload
from aiorsocket.frames import (
    MetadataPushFrame,
    PayloadFrame,
    RequestResponseFrame,
    SetupFrame,
    decode_frame,
    encode_frame,
)
from aiorsocket.protocol import (
    Connection,
    ConnectionConfig,
    MetadataPushReceived,
    PayloadReceived,
    RequestReceived,
    Role,
)
from aiorsocket.protocol.fragmentation import fragment


def established_server() -> Connection:
    conn = Connection(Role.SERVER, ConnectionConfig())
    conn.start(0.0)
    conn.receive_frame(encode_frame(SetupFrame(1000, 5000, "a", "b")), 0.0)
    conn.events()
    conn.accept_setup()
    return conn


def test_js_0_0_27_zero_length_metadata_on_every_request_is_kept_as_empty() -> None:
    conn = established_server()
    # 0.0.27 sets M with a zero-length metadata field even when the app gave none.
    conn.receive_frame(bytes.fromhex("00000001 1100 000000 6869"), 0.0)
    (event,) = conn.events()
    assert isinstance(event, RequestReceived)
    assert (event.data, event.metadata) == (b"hi", b"")


def test_js_0_0_27_metadata_push_without_m_flag_is_accepted() -> None:
    conn = established_server()
    conn.receive_frame(bytes.fromhex("00000000 3000 6d64"), 0.0)
    assert conn.events() == [MetadataPushReceived(b"md")]
    # We always send it with M, as MP-1 asks.
    client = Connection(Role.CLIENT, ConnectionConfig())
    client.start(0.0)
    client.data_to_send()
    client.metadata_push(b"md")
    (wire,) = client.data_to_send()
    assert wire == encode_frame(MetadataPushFrame(b"md"))
    assert wire[4:6] == bytes.fromhex("3100")


def _reassembled(frames: list[bytes]) -> PayloadReceived:
    conn = established_server()
    for wire in frames:
        conn.receive_frame(wire, 0.0)
    events = conn.events()
    assert len(events) == 1, events
    (event,) = events
    assert isinstance(event, RequestReceived)
    return PayloadReceived(event.stream_id, event.data, event.metadata, True, True)


def test_fr_fragments_sized_like_rsocket_js_1_0_are_reassembled() -> None:
    # rsocket-js 1.0 counts 65536 payload bytes without the 6-byte header: 65542-byte frames.
    data = bytes(range(256)) * 1024
    first = encode_frame(RequestResponseFrame(1, data[:65536], follows=True))
    rest = encode_frame(PayloadFrame(1, data[65536:], follows=False, next=True))
    assert len(first) == 65542
    assert _reassembled([first, rest]).data == data


def test_fr_fragments_sized_like_rsocket_py_are_reassembled() -> None:
    # rsocket-py counts the whole frame plus the 3-byte TCP prefix: 65536 → 65533-byte frames.
    data = bytes(range(256)) * 1024
    frames = [encode_frame(f) for f in fragment(RequestResponseFrame(1, data, b"m"), 65533)]
    assert {len(f) for f in frames[:-1]} == {65533}
    result = _reassembled(frames)
    assert (result.data, result.metadata) == (data, b"m")


def test_fr6_continuations_without_n_are_accepted() -> None:
    # Old rsocket-cpp sent continuation fragments with N=0; F alone marks them.
    first = encode_frame(RequestResponseFrame(1, b"ab", follows=True))
    last = encode_frame(PayloadFrame(1, b"cd", follows=False, next=False))
    assert _reassembled([first, last]).data == b"abcd"
    assert decode_frame(last) == PayloadFrame(1, b"cd")


async def test_tcp_nodelay_is_set_on_both_ends() -> None:
    # Nagle costs ~40 ms per request-n round trip against peers that leave it on (peers.md).
    async with (
        aiorsocket.serve(aiorsocket.RequestHandler(), "tcp://127.0.0.1:0") as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as rs,
    ):
        client_sock = rs.transport.get_extra_info("socket")
        assert client_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        # An answered request proves the server side exists and has served us.
        with pytest.raises(aiorsocket.ApplicationError, match="not implemented"):
            await rs.request_response(Payload(b"x"))
        (server_side,) = list(srv.connections)
        server_sock = server_side.transport.get_extra_info("socket")
        assert server_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0

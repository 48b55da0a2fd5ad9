"""Bad input from a raw socket against our TCP server: each case gets the exact answer the
checklist gives (or is ignored where it says so), and the server keeps serving others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import aiorsocket
from aiorsocket import ErrorCode, Payload
from aiorsocket.frames import (
    ErrorFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    SetupFrame,
    encode_frame,
)
from support.raw_peer import RawPeer

SETUP = SetupFrame(60_000, 120_000, "application/octet-stream", "application/octet-stream")


class Handler(aiorsocket.RequestHandler):
    async def request_response(self, payload: Payload) -> Payload:
        if payload.data == b"hang":
            await asyncio.Event().wait()
        return Payload(b"pong:" + payload.data)

    async def request_stream(self, payload: Payload) -> AsyncIterator[Payload]:
        for i in range(int(payload.data)):
            yield Payload(b"%d" % i)


@pytest.fixture
async def server() -> AsyncIterator[aiorsocket.Server]:
    # The bystander is a second, healthy connection that must survive every fault on the first.
    async with (
        aiorsocket.serve(
            Handler(), "tcp://127.0.0.1:0", max_frame_size=4096, max_inbound_payload_size=1000
        ) as srv,
        aiorsocket.connect(f"tcp://127.0.0.1:{srv.port}") as bystander,
    ):
        yield srv
        assert await bystander.request_response(Payload(b"still")) == Payload(b"pong:still")


@pytest.fixture
async def peer(server: aiorsocket.Server) -> AsyncIterator[RawPeer]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    yield RawPeer(reader, writer)
    writer.close()


async def established(peer: RawPeer) -> RawPeer:
    await peer.send(SETUP)
    await peer.ping(1)
    return peer


async def test_fl2_truncated_frame_gets_connection_error_and_close(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(bytes.fromhex("00000003 1800 0000"))  # REQUEST_STREAM cut inside request-n
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (0, ErrorCode.CONNECTION_ERROR)
    await peer.assert_closed()


async def test_ig1_unknown_type_with_i_flag_is_ignored(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(bytes.fromhex("00000003 4200 abcdef"))
    await peer.ping(5)


async def test_ig2_unknown_type_without_i_flag_gets_connection_error(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(bytes.fromhex("00000003 4000"))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (0, ErrorCode.CONNECTION_ERROR)
    assert "unknown frame type 0x10" in frame.message
    await peer.assert_closed()


async def test_s1_2_metadata_length_overrun_gets_connection_error(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(bytes.fromhex("00000003 1100 0000ff 6d"))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (0, ErrorCode.CONNECTION_ERROR)
    assert "overruns" in frame.message
    await peer.assert_closed()


async def test_su2_request_before_setup_gets_invalid_setup(peer: RawPeer) -> None:
    await peer.send(RequestResponseFrame(1, b"early"))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (0, ErrorCode.INVALID_SETUP)
    await peer.assert_closed()


async def test_su2_setup_on_a_nonzero_stream_gets_invalid_setup(peer: RawPeer) -> None:
    await peer.send(b"\x00\x00\x00\x01" + encode_frame(SETUP)[4:])
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (0, ErrorCode.INVALID_SETUP)
    await peer.assert_closed()


async def test_su12_a_second_setup_is_ignored(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(SETUP)
    await peer.ping(3)


async def test_su3_zero_keepalive_gets_invalid_setup(peer: RawPeer) -> None:
    await peer.send(bytes.fromhex("00000000 0400 0001 0000 00000000 00015F90 01 61 01 61"))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (0, ErrorCode.INVALID_SETUP)
    await peer.assert_closed()


async def test_su4_unsupported_version_gets_invalid_setup(peer: RawPeer) -> None:
    await peer.send(SetupFrame(1000, 2000, "a", "b", major=2))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (0, ErrorCode.INVALID_SETUP)
    await peer.assert_closed()


async def test_id5_request_on_a_stream_id_in_use_is_ignored(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(RequestResponseFrame(3, b"hang"))
    await peer.send(RequestResponseFrame(3, b"duplicate"))
    # Nothing answers the duplicate; the next frame answers the next request.
    await peer.ping(5)


async def test_rn1_request_n_of_zero_gets_stream_invalid(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(RequestStreamFrame(3, 1, b"10"))
    assert await peer.next_frame() == PayloadFrame(3, b"0", None, False, False, True)
    await peer.send(bytes.fromhex("00000003 2000 00000000"))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (3, ErrorCode.INVALID)
    await peer.ping(5)


async def test_rn1_initial_request_n_of_zero_gets_stream_invalid(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(bytes.fromhex("00000003 1800 00000000 3130"))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (3, ErrorCode.INVALID)
    await peer.ping(5)


async def test_fl1_frame_over_the_maximum_size_gets_connection_error(peer: RawPeer) -> None:
    await established(peer)
    await peer.send_raw((4097).to_bytes(3, "big"))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (0, ErrorCode.CONNECTION_ERROR)
    assert "4097" in frame.message
    await peer.assert_closed()


async def test_fr9_fragments_over_the_maximum_message_size_get_stream_invalid(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(RequestResponseFrame(3, b"a" * 600, follows=True))
    await peer.send(PayloadFrame(3, b"b" * 600, follows=True, next=True))
    frame = await peer.next_frame()
    assert isinstance(frame, ErrorFrame)
    assert (frame.stream_id, frame.error_code) == (3, ErrorCode.INVALID)
    assert "maximum inbound payload size" in frame.message
    # The rest of that sequence is for a dead stream and is dropped (ID-5).
    await peer.send(PayloadFrame(3, b"c" * 600, follows=False, next=True))
    await peer.ping(5)


async def test_fr_fragmented_request_within_the_limit_is_served(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(RequestResponseFrame(3, b"ab", b"m", follows=True))
    await peer.send(PayloadFrame(3, b"cd", follows=False, next=True))
    assert await peer.next_frame() == PayloadFrame(3, b"pong:abcd", None, False, True, True)


async def test_id5_payload_for_an_unknown_stream_is_ignored(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(PayloadFrame(77, b"stray", next=True))
    await peer.send(RequestNFrame(79, 5))
    await peer.ping(3)


async def test_d10_request_with_the_wrong_parity_is_ignored(peer: RawPeer) -> None:
    await established(peer)
    await peer.send(RequestChannelFrame(4, 1, b"even"))
    await peer.ping(3)


async def test_stray_bytes_then_close_do_not_hurt_the_server(server: aiorsocket.Server) -> None:
    # rsocket-js 1.0's server dies on this (peers.md); ours must shrug it off.
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x00")
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    async with aiorsocket.connect(f"tcp://127.0.0.1:{server.port}") as rs:
        assert await rs.request_response(Payload(b"x")) == Payload(b"pong:x")

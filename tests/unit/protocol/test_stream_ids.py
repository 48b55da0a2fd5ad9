"""Stream ids: parity, growth, wrap-around, and frames for ids that are not live (ID-1..ID-5, D-10)."""

from __future__ import annotations

import pytest

from aiorsocket.errors import ErrorCode, LocalProtocolError
from aiorsocket.frames import (
    CancelFrame,
    ErrorFrame,
    Frame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
)
from aiorsocket.frames.types import MAX_STREAM_ID, FrameType
from aiorsocket.protocol import (
    Connection,
    ConnectionClosed,
    ConnectionConfig,
    ConnectionState,
    PayloadReceived,
    RequestKind,
    RequestReceived,
)
from support.protocol_helpers import feed, frames_out, make_client, make_server, no_text, raw_frame


def assert_nothing_happened(conn: Connection) -> None:
    assert conn.events() == []
    assert conn.data_to_send() == []
    assert conn.state is ConnectionState.ESTABLISHED


# --------------------------------------------------------------------------- ID-2


def test_id2_client_uses_odd_ids_increasing_by_two(client: Connection) -> None:
    ids = [
        client.request_response(b""),
        client.request_fire_and_forget(b""),
        client.request_stream(b"", initial_n=1),
        client.request_channel(b"", initial_n=1),
        client.request_response(b""),
    ]
    assert ids == [1, 3, 5, 7, 9]
    assert [frame.stream_id for frame in frames_out(client)] == ids


def test_id2_server_uses_even_ids_increasing_by_two(server: Connection) -> None:
    ids = [
        server.request_response(b""),
        server.request_fire_and_forget(b""),
        server.request_stream(b"", initial_n=1),
        server.request_channel(b"", initial_n=1),
    ]
    assert ids == [2, 4, 6, 8]
    assert [frame.stream_id for frame in frames_out(server)] == ids


def test_id2_ids_are_not_reused_before_wrapping(client: Connection) -> None:
    first = client.request_response(b"")
    feed(client, PayloadFrame(first, b"", None, False, True, True))  # stream 1 is over
    assert client.request_response(b"") == 3


# --------------------------------------------------------------------------- ID-3
# Reaching 2^31-1 honestly needs about 2^30 requests, so these tests set the private
# ``_next_stream_id`` counter to just below the limit; everything after that goes
# through the public API.


def test_id3_client_wraps_from_max_back_to_1(client: Connection) -> None:
    client._next_stream_id = MAX_STREAM_ID - 2
    assert client.request_response(b"") == MAX_STREAM_ID - 2
    assert client.request_response(b"") == MAX_STREAM_ID
    assert client.request_response(b"") == 1
    assert client.request_response(b"") == 3


def test_id3_server_wraps_from_max_back_to_2(server: Connection) -> None:
    server._next_stream_id = MAX_STREAM_ID - 3
    assert server.request_response(b"") == MAX_STREAM_ID - 3
    assert server.request_response(b"") == MAX_STREAM_ID - 1
    assert server.request_response(b"") == 2


def test_id3_wrap_around_skips_ids_still_live(client: Connection) -> None:
    live = [client.request_stream(b"", initial_n=1) for _ in range(3)]  # 1, 3, 5
    assert live == [1, 3, 5]
    feed(client, PayloadFrame(3, b"", None, False, True, False))  # 3 completes; 1 and 5 stay live
    client.events()
    client._next_stream_id = MAX_STREAM_ID
    assert client.request_response(b"") == MAX_STREAM_ID
    assert client.request_response(b"") == 3  # 1 is live: skipped
    assert client.request_response(b"") == 7  # 5 is live: skipped
    client.data_to_send()


def test_id3_wrap_around_skips_live_ids_before_the_limit(client: Connection) -> None:
    client._next_stream_id = MAX_STREAM_ID - 2
    high = client.request_stream(b"", initial_n=1)
    assert high == MAX_STREAM_ID - 2
    client._next_stream_id = MAX_STREAM_ID - 2  # as if we had wrapped all the way round again
    assert client.request_stream(b"", initial_n=1) == MAX_STREAM_ID
    assert client.request_stream(b"", initial_n=1) == 1


# --------------------------------------------------------------------------- ID-1, ID-5, D-10


@pytest.mark.parametrize(
    "frame_type", [FrameType.REQUEST_RESPONSE, FrameType.REQUEST_FNF], ids=lambda t: t.name
)
def test_id1_request_on_stream_0_is_a_connection_error(server: Connection, frame_type: FrameType) -> None:
    server.receive_frame(raw_frame(frame_type, 0, 0, b"x"), 0.0)
    assert no_text(frames_out(server)) == [ErrorFrame(0, ErrorCode.CONNECTION_ERROR)]
    assert no_text(server.events()) == [ConnectionClosed(ErrorCode.CONNECTION_ERROR, "", False)]


@pytest.mark.parametrize(
    "duplicate",
    [
        RequestResponseFrame(1, b"dup"),
        RequestFnfFrame(1, b"dup"),
        RequestStreamFrame(1, 9, b"dup"),
        RequestChannelFrame(1, 9, b"dup"),
    ],
    ids=lambda frame: type(frame).__name__,
)
def test_id5_request_on_a_live_id_is_dropped(server: Connection, duplicate: Frame) -> None:
    feed(server, RequestStreamFrame(1, 2, b"first"))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_STREAM, b"first", None, 2, False)]
    feed(server, duplicate)
    assert_nothing_happened(server)
    stream = server.stream(1)
    assert stream is not None
    assert stream.kind is RequestKind.REQUEST_STREAM
    assert stream.send_credit == 2


def test_id4_a_finished_id_may_be_used_again(server: Connection) -> None:
    feed(server, RequestResponseFrame(1, b"first"))
    server.events()
    server.send_payload(1, b"answer")
    server.data_to_send()
    feed(server, RequestResponseFrame(1, b"again"))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"again", None, 0, False)]


@pytest.mark.parametrize(
    "frame",
    [
        CancelFrame(9),
        ErrorFrame(9, ErrorCode.APPLICATION_ERROR, b"x"),
        PayloadFrame(9, b"x", None, False, False, True),
        PayloadFrame(9, b"x", None, False, True, True),
        PayloadFrame(9, b"x", None, True, False, True),
        RequestNFrame(9, 5),
        CancelFrame(2),
        ErrorFrame(2, ErrorCode.CANCELED, b""),
        PayloadFrame(2, b"x", None, False, True, True),
        RequestNFrame(2, 1),
    ],
    ids=lambda frame: f"{type(frame).__name__}-{frame.stream_id}",
)
def test_id5_frames_for_unknown_ids_are_dropped_by_the_server(server: Connection, frame: Frame) -> None:
    feed(server, frame)
    assert_nothing_happened(server)
    assert server.stream_count == 0


@pytest.mark.parametrize(
    "frame",
    [
        CancelFrame(1),
        ErrorFrame(1, ErrorCode.APPLICATION_ERROR, b"x"),
        PayloadFrame(1, b"x", None, False, True, True),
        RequestNFrame(1, 5),
        # D-10: an id above any we issued; rsocket-java would fail the connection.
        ErrorFrame(101, ErrorCode.APPLICATION_ERROR, b"x"),
        PayloadFrame(101, b"x", None, False, False, True),
        CancelFrame(100),
    ],
    ids=lambda frame: f"{type(frame).__name__}-{frame.stream_id}",
)
def test_id5_frames_for_unknown_ids_are_dropped_by_the_client(client: Connection, frame: Frame) -> None:
    feed(client, frame)
    assert_nothing_happened(client)


@pytest.mark.parametrize(
    "buf",
    [
        pytest.param(raw_frame(FrameType.CANCEL, 0, 0), id="cancel-0"),
        pytest.param(raw_frame(FrameType.PAYLOAD, 0x060, 0, b"x"), id="payload-0"),
        pytest.param(raw_frame(FrameType.REQUEST_N, 0, 0, b"\x00\x00\x00\x05"), id="request-n-0"),
    ],
)
def test_id5_stream_frames_on_stream_0_are_dropped(server: Connection, buf: bytes) -> None:
    server.receive_frame(buf, 0.0)
    assert_nothing_happened(server)


def test_id5_frames_for_an_ended_stream_are_dropped(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=5)
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"a", None, False, True, True))
    assert client.events() == [PayloadReceived(stream_id, b"a", None, True, True)]
    feed(
        client,
        PayloadFrame(stream_id, b"late", None, False, False, True),
        ErrorFrame(stream_id, ErrorCode.APPLICATION_ERROR, b"late"),
        CancelFrame(stream_id),
        RequestNFrame(stream_id, 3),
    )
    assert_nothing_happened(client)


@pytest.mark.parametrize(
    "request_frame",
    [
        RequestResponseFrame(2, b"x"),
        RequestFnfFrame(4, b"x"),
        RequestStreamFrame(6, 1),
        RequestChannelFrame(8, 1),
    ],
    ids=lambda frame: type(frame).__name__,
)
def test_d10_request_with_wrong_parity_is_dropped_by_the_server(
    server: Connection, request_frame: Frame
) -> None:
    feed(server, request_frame)
    assert_nothing_happened(server)
    assert server.stream_count == 0


@pytest.mark.parametrize(
    "request_frame",
    [
        RequestResponseFrame(1, b"x"),
        RequestFnfFrame(3, b"x"),
        RequestStreamFrame(5, 1),
        RequestChannelFrame(7, 1),
    ],
    ids=lambda frame: type(frame).__name__,
)
def test_d10_request_with_wrong_parity_is_dropped_by_the_client(
    client: Connection, request_frame: Frame
) -> None:
    feed(client, request_frame)
    assert_nothing_happened(client)
    assert client.stream_count == 0


def test_d10_wrong_parity_request_does_not_disturb_our_own_stream(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=2)
    client.data_to_send()
    feed(client, RequestStreamFrame(stream_id, 99, b"hijack"))
    assert_nothing_happened(client)
    stream = client.stream(stream_id)
    assert stream is not None
    assert stream.is_requester
    assert stream.receive_credit == 2


def test_max_streams_rejects_peer_requests_past_the_limit() -> None:
    server = make_server(ConnectionConfig(max_streams=2))
    feed(server, RequestResponseFrame(1, b"a"), RequestResponseFrame(3, b"b"), RequestResponseFrame(5, b"c"))
    assert [type(e) for e in server.events()] == [RequestReceived, RequestReceived]
    assert no_text(frames_out(server)) == [ErrorFrame(5, ErrorCode.REJECTED)]
    assert server.stream_count == 2


def test_max_streams_refuses_our_own_request_past_the_limit() -> None:
    client = make_client(ConnectionConfig(max_streams=1))
    client.request_response(b"a")
    with pytest.raises(LocalProtocolError, match="max_streams"):
        client.request_response(b"b")

"""Faults from the peer, METADATA_PUSH, and closing: abrupt, by the peer, and graceful.

Rules: FL-2, IG-1, IG-2, MP-1..MP-3, U-1, D-3, D-17, the §2 CONNECTION_ERROR / CONNECTION_CLOSE
semantics, and §4 "after close, anything still arriving is ignored".
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiorsocket.errors import ErrorCode, LocalProtocolError
from aiorsocket.frames import (
    CancelFrame,
    ErrorFrame,
    ExtFrame,
    KeepaliveFrame,
    MetadataPushFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    encode_frame,
)
from aiorsocket.frames.types import FrameType
from aiorsocket.protocol import (
    Connection,
    ConnectionClosed,
    ConnectionConfig,
    ConnectionState,
    ErrorReceived,
    GracefulCloseReceived,
    MetadataPushReceived,
    PayloadReceived,
    RequestKind,
    RequestReceived,
)
from support.protocol_helpers import (
    Pair,
    feed,
    frames_out,
    make_server,
    no_text,
    open_stream_on_server,
    raw_frame,
)

FLAG_I = 0x200
FLAG_M = 0x100


def assert_connection_error(conn: Connection) -> None:
    assert no_text(frames_out(conn)) == [ErrorFrame(0, ErrorCode.CONNECTION_ERROR)]
    assert no_text(conn.events()) == [ConnectionClosed(ErrorCode.CONNECTION_ERROR, "", False)]
    assert conn.is_closed
    assert conn.stream_count == 0


def assert_still_working(server: Connection) -> None:
    assert server.events() == []
    assert server.data_to_send() == []
    assert server.state is ConnectionState.ESTABLISHED
    feed(server, RequestResponseFrame(101, b"still there?"))
    assert server.events() == [
        RequestReceived(101, RequestKind.REQUEST_RESPONSE, b"still there?", None, 0, False)
    ]


# --------------------------------------------------------------------------- IG-1, IG-2, FL-2


@pytest.mark.parametrize("frame_type", [0x0F, 0x20, 0x3E, 0x00])
@pytest.mark.parametrize("stream_id", [0, 5])
def test_ig2_unknown_frame_type_without_i_is_a_connection_error(
    server: Connection, frame_type: int, stream_id: int
) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.receive_frame(raw_frame(frame_type, 0, stream_id, b"body"), 0.0)
    assert_connection_error(server)


@pytest.mark.parametrize("frame_type", [0x0F, 0x20, 0x3E])
@pytest.mark.parametrize("stream_id", [0, 5])
def test_ig1_unknown_frame_type_with_i_is_ignored(
    server: Connection, frame_type: int, stream_id: int
) -> None:
    server.receive_frame(raw_frame(frame_type, FLAG_I, stream_id, b"body"), 0.0)
    assert_still_working(server)


def test_ig1_unknown_ext_with_i_is_ignored(server: Connection) -> None:
    feed(server, ExtFrame(0, 42, b"x", b"m", ignore=True), ExtFrame(1, 42, ignore=True))
    assert_still_working(server)


def test_ig2_unknown_ext_without_i_is_a_connection_error(server: Connection) -> None:
    feed(server, ExtFrame(3, 42, b"x"))
    assert_connection_error(server)


@pytest.mark.parametrize(
    "buf",
    [
        pytest.param(b"\x00\x00\x00", id="shorter-than-header"),
        pytest.param(raw_frame(FrameType.REQUEST_N, 0, 1, b"\x00\x01"), id="truncated-request-n"),
        pytest.param(raw_frame(FrameType.ERROR, 0, 1, b"\x00"), id="truncated-error"),
        pytest.param(raw_frame(FrameType.KEEPALIVE, 0x80, 0, b"\x00" * 4), id="truncated-keepalive"),
        pytest.param(
            raw_frame(FrameType.PAYLOAD, FLAG_M | 0x20, 1, b"\x00\x00\x64abc"), id="metadata-overrun"
        ),
        pytest.param(raw_frame(FrameType.PAYLOAD, FLAG_M | 0x20, 1, b"\x00\x00"), id="metadata-length-cut"),
        pytest.param(
            raw_frame(FrameType.REQUEST_RESPONSE, FLAG_M, 1, b"\x00\x00\x10ab"), id="request-metadata-overrun"
        ),
        pytest.param(raw_frame(FrameType.KEEPALIVE, 0x80, 3, b"\x00" * 8), id="keepalive-off-stream-0"),
    ],
)
def test_fl2_malformed_frame_is_a_connection_error(server: Connection, buf: bytes) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.receive_frame(buf, 0.0)
    assert_connection_error(server)


@pytest.mark.parametrize(
    "buf",
    [
        pytest.param(
            raw_frame(FrameType.PAYLOAD, FLAG_I | FLAG_M | 0x20, 1, b"\x00\x00\x64abc"), id="payload"
        ),
        pytest.param(raw_frame(FrameType.REQUEST_N, FLAG_I, 1, b"\x00"), id="truncated-request-n"),
    ],
)
def test_fl2_malformed_frame_with_i_is_dropped(server: Connection, buf: bytes) -> None:
    server.receive_frame(buf, 0.0)
    assert_still_working(server)


def test_fl5_undefined_flag_bits_are_ignored(server: Connection) -> None:
    # REQUEST_N defines no flags; set F, C and N anyway.
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.receive_frame(raw_frame(FrameType.REQUEST_N, 0xE0, 1, b"\x00\x00\x00\x02"), 0.0)
    assert len(server.events()) == 1
    assert server.data_to_send() == []


# --------------------------------------------------------------------------- MP-1..MP-3


def test_mp2_metadata_push_received_is_reported(server: Connection) -> None:
    feed(server, MetadataPushFrame(b"routing-table-v2"))
    assert server.events() == [MetadataPushReceived(b"routing-table-v2")]
    assert server.data_to_send() == []  # no reply
    assert server.stream_count == 0  # no stream


def test_mp1_metadata_push_sent_on_stream_0_with_m(client: Connection) -> None:
    client.metadata_push(b"md")
    assert client.data_to_send() == [bytes.fromhex("00000000 3100") + b"md"]
    assert client.stream_count == 0


def test_mp2_metadata_push_both_ways(pair: Pair) -> None:
    pair.client.metadata_push(b"from client")
    pair.server.metadata_push(b"from server")
    pair.pump()
    assert pair.take_server_events() == [MetadataPushReceived(b"from client")]
    assert pair.take_client_events() == [MetadataPushReceived(b"from server")]


def test_mp3_metadata_push_on_a_nonzero_stream_is_ignored(server: Connection) -> None:
    server.receive_frame(raw_frame(FrameType.METADATA_PUSH, FLAG_M, 7, b"md"), 0.0)
    assert_still_working(server)


# --------------------------------------------------------------------------- closing abruptly


def test_close_with_a_code_tells_the_peer_then_closes(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.close(ErrorCode.CONNECTION_ERROR, "shutting down")
    assert frames_out(server) == [ErrorFrame(0, ErrorCode.CONNECTION_ERROR, b"shutting down")]
    assert server.events() == [ConnectionClosed(ErrorCode.CONNECTION_ERROR, "shutting down", False)]
    assert server.stream_count == 0
    server.close(ErrorCode.CONNECTION_ERROR, "again")  # idempotent
    assert server.data_to_send() == []
    assert server.events() == []


def test_close_without_a_code_sends_nothing(server: Connection) -> None:
    server.close()
    assert server.data_to_send() == []
    assert server.events() == [ConnectionClosed(None, "", False)]


def test_connection_lost_closes_and_ends_every_stream(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.connection_lost()
    assert server.data_to_send() == []
    assert no_text(server.events()) == [ConnectionClosed(None, "", True)]
    assert server.stream_count == 0
    server.connection_lost()
    assert server.events() == []


@pytest.mark.parametrize("how", ["close", "lost", "peer-error"])
def test_s4_after_close_frames_are_ignored(server: Connection, how: str) -> None:
    if how == "close":
        server.close(ErrorCode.CONNECTION_ERROR, "x")
    elif how == "lost":
        server.connection_lost()
    else:
        feed(server, ErrorFrame(0, ErrorCode.CONNECTION_ERROR, b"x"))
    server.events()
    server.data_to_send()
    feed(
        server,
        RequestResponseFrame(1, b"x"),
        KeepaliveFrame(0, b"", True),
        MetadataPushFrame(b"m"),
        ErrorFrame(0, ErrorCode.CONNECTION_ERROR, b"again"),
    )
    server.receive_frame(raw_frame(0x20, 0, 0), 0.0)  # even garbage is not answered
    assert server.events() == []
    assert server.data_to_send() == []


def test_s4_after_close_the_api_refuses_new_work(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.close()
    server.events()
    with pytest.raises(LocalProtocolError):
        server.request_response(b"x")
    with pytest.raises(LocalProtocolError):
        server.metadata_push(b"x")
    assert server.send_payload(1, b"x") is False
    assert server.send_complete(1) is False
    assert server.send_error(1, ErrorCode.APPLICATION_ERROR, "x") is False
    assert server.send_cancel(1) is False
    assert server.send_request_n(1, 1) is False
    assert server.data_to_send() == []


@pytest.mark.parametrize("code", [ErrorCode.CONNECTION_ERROR, 0x00000301, ErrorCode.APPLICATION_ERROR])
def test_connection_level_error_received_closes_by_peer(server: Connection, code: int) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    feed(server, ErrorFrame(0, code, b"bye now"))
    assert server.events() == [ConnectionClosed(code, "bye now", True)]
    assert server.data_to_send() == []  # nothing is said back
    assert server.is_closed
    assert server.stream_count == 0


def test_d17_connection_error_code_on_a_stream_ends_only_that_stream(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    feed(server, ErrorFrame(1, ErrorCode.CONNECTION_ERROR, b"odd"))
    assert server.events() == [ErrorReceived(1, ErrorCode.CONNECTION_ERROR, "odd")]
    assert server.state is ConnectionState.ESTABLISHED


def test_d3_error_codes_are_unsigned_32_bit(client: Connection) -> None:
    stream_id = client.request_response(b"q")
    client.data_to_send()
    feed(client, ErrorFrame(stream_id, 0xFFFFFFFE, b"custom"))
    assert client.events() == [ErrorReceived(stream_id, 0xFFFFFFFE, "custom")]


# --------------------------------------------------------------------------- CONNECTION_CLOSE received


def test_connection_close_received_with_no_streams_closes_at_once(server: Connection) -> None:
    feed(server, ErrorFrame(0, ErrorCode.CONNECTION_CLOSE, b"done"))
    assert no_text(server.events()) == [
        GracefulCloseReceived(""),
        ConnectionClosed(ErrorCode.CONNECTION_CLOSE, "", True),
    ]
    assert server.data_to_send() == []


def test_connection_close_received_lets_open_streams_finish(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 5))
    open_stream_on_server(server, RequestChannelFrame(3, 5))
    feed(server, ErrorFrame(0, ErrorCode.CONNECTION_CLOSE, b"draining"))
    assert server.events() == [GracefulCloseReceived("draining")]
    assert server.state is ConnectionState.CLOSING
    with pytest.raises(LocalProtocolError):
        server.request_response(b"new")  # no new streams while closing
    assert server.send_payload(1, b"a") is True
    server.send_complete(1)
    assert server.events() == []  # stream 3 is still open
    server.send_request_n(3, 1)
    feed(server, PayloadFrame(3, b"c", None, False, True, True))
    assert server.events() == [PayloadReceived(3, b"c", None, True, True)]
    server.send_complete(3)
    assert no_text(server.events()) == [ConnectionClosed(ErrorCode.CONNECTION_CLOSE, "", True)]
    assert server.is_closed
    assert frames_out(server) == [
        PayloadFrame(1, b"a", None, False, False, True),
        PayloadFrame(1, b"", None, False, True, False),
        RequestNFrame(3, 1),
        PayloadFrame(3, b"", None, False, True, False),
    ]


# --------------------------------------------------------------------------- close_gracefully


def test_close_gracefully_with_no_streams_sends_connection_close_and_closes(server: Connection) -> None:
    server.close_gracefully("bye")
    assert frames_out(server) == [ErrorFrame(0, ErrorCode.CONNECTION_CLOSE, b"bye")]
    assert no_text(server.events()) == [ConnectionClosed(ErrorCode.CONNECTION_CLOSE, "", False)]


def test_close_gracefully_rejects_new_requests_and_lets_old_ones_finish(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 5))
    server.close_gracefully("bye")
    server.close_gracefully("bye again")  # one CONNECTION_CLOSE only
    assert frames_out(server) == [ErrorFrame(0, ErrorCode.CONNECTION_CLOSE, b"bye")]
    assert server.state is ConnectionState.CLOSING
    feed(
        server,
        RequestResponseFrame(3, b"new"),
        RequestStreamFrame(5, 1),
        RequestChannelFrame(7, 1),
        RequestResponseFrame(9, b"fragmented", None, True),
        RequestFnfFrame(11, b"fnf"),  # FF-2: dropped without a word
    )
    assert no_text(frames_out(server)) == [
        ErrorFrame(3, ErrorCode.REJECTED),
        ErrorFrame(5, ErrorCode.REJECTED),
        ErrorFrame(7, ErrorCode.REJECTED),
        ErrorFrame(9, ErrorCode.REJECTED),
    ]
    feed(server, PayloadFrame(9, b"rest", None, False, False, True))  # its continuation is dropped
    assert server.events() == []
    assert server.data_to_send() == []
    assert server.stream_count == 1
    server.send_payload(1, b"last", complete=True)
    assert no_text(server.events()) == [ConnectionClosed(ErrorCode.CONNECTION_CLOSE, "", False)]
    assert frames_out(server) == [PayloadFrame(1, b"last", None, False, True, True)]


def _we_complete(server: Connection) -> None:
    server.send_payload(1, b"v", complete=True)


def _we_send_complete(server: Connection) -> None:
    server.send_complete(1)


def _we_send_error(server: Connection) -> None:
    server.send_error(1, ErrorCode.APPLICATION_ERROR, "stop")


def _peer_cancels(server: Connection) -> None:
    feed(server, CancelFrame(1))


def _peer_errors(server: Connection) -> None:
    feed(server, ErrorFrame(1, ErrorCode.APPLICATION_ERROR, b"stop"))


def _peer_request_n_zero(server: Connection) -> None:
    server.receive_frame(raw_frame(FrameType.REQUEST_N, 0, 1, b"\x00\x00\x00\x00"), 0.0)


def _we_cancel_our_request(server: Connection) -> None:
    server.send_cancel(2)


def _peer_answers_our_request(server: Connection) -> None:
    feed(server, PayloadFrame(2, b"answer", None, False, True, True))


def _peer_overruns_our_request(server: Connection) -> None:
    feed(
        server,
        PayloadFrame(2, b"1", None, False, False, True),
        PayloadFrame(2, b"2", None, False, False, True),
    )


def _fragmented_fnf_finishes(server: Connection) -> None:
    feed(server, PayloadFrame(1, b"tail", None, False, False, True))


def _fragmented_request_is_cancelled(server: Connection) -> None:
    feed(server, CancelFrame(1))


def _open_responder_stream(server: Connection) -> None:
    # A channel whose requester already completed its half: only our outbound half is open.
    open_stream_on_server(server, RequestChannelFrame(1, 5, b"", None, False, True))


def _open_requester_stream(server: Connection) -> None:
    server.request_stream(b"", initial_n=1)


def _open_fragmented_fnf(server: Connection) -> None:
    feed(server, RequestFnfFrame(1, b"head", None, True))


ENDINGS = [
    pytest.param(_open_responder_stream, _we_complete, id="we-complete"),
    pytest.param(_open_responder_stream, _we_send_complete, id="we-send-complete"),
    pytest.param(
        _open_responder_stream,
        _we_send_error,
        id="we-send-error",
    ),
    pytest.param(_open_responder_stream, _peer_cancels, id="peer-cancels"),
    pytest.param(_open_responder_stream, _peer_errors, id="peer-errors"),
    pytest.param(_open_responder_stream, _peer_request_n_zero, id="peer-request-n-0"),
    pytest.param(_open_requester_stream, _we_cancel_our_request, id="we-cancel"),
    pytest.param(_open_requester_stream, _peer_answers_our_request, id="peer-completes"),
    pytest.param(_open_requester_stream, _peer_overruns_our_request, id="peer-overruns"),
    pytest.param(_open_fragmented_fnf, _fragmented_request_is_cancelled, id="fragmented-request-cancelled"),
    pytest.param(
        _open_fragmented_fnf,
        _fragmented_fnf_finishes,
        id="fragmented-fnf-finishes",
    ),
]


@pytest.mark.parametrize(("open_stream", "end_stream"), ENDINGS)
@pytest.mark.parametrize("initiator", ["local", "peer"])
def test_graceful_close_completes_when_the_last_stream_ends(
    open_stream: Callable[[Connection], None], end_stream: Callable[[Connection], None], initiator: str
) -> None:
    server = make_server()
    open_stream(server)
    server.events()
    server.data_to_send()
    if initiator == "local":
        server.close_gracefully()
    else:
        feed(server, ErrorFrame(0, ErrorCode.CONNECTION_CLOSE, b""))
    server.data_to_send()
    server.events()
    assert server.state is ConnectionState.CLOSING
    end_stream(server)
    assert server.stream_count == 0
    closed = [event for event in server.events() if isinstance(event, ConnectionClosed)]
    assert no_text(closed) == [ConnectionClosed(ErrorCode.CONNECTION_CLOSE, "", initiator == "peer")]
    assert server.is_closed


def test_graceful_close_end_to_end(pair: Pair) -> None:
    stream_id = pair.client.request_stream(b"", initial_n=2)
    pair.pump()
    pair.take_server_events()
    pair.server.close_gracefully("maintenance")
    pair.pump()
    assert pair.take_client_events() == [GracefulCloseReceived("maintenance")]
    with pytest.raises(LocalProtocolError):
        pair.client.request_response(b"no more")
    pair.server.send_payload(stream_id, b"a")
    pair.server.send_payload(stream_id, b"b", complete=True)
    pair.pump()
    assert no_text(pair.take_client_events()) == [
        PayloadReceived(stream_id, b"a", None, True, False),
        PayloadReceived(stream_id, b"b", None, True, True),
        ConnectionClosed(ErrorCode.CONNECTION_CLOSE, "", True),
    ]
    assert no_text(pair.take_server_events()) == [ConnectionClosed(ErrorCode.CONNECTION_CLOSE, "", False)]
    assert pair.client.is_closed
    assert pair.server.is_closed


def test_graceful_close_before_setup_just_closes() -> None:
    server = make_server(ConnectionConfig())
    server.close_gracefully()
    server.data_to_send()
    server.events()
    pending = Connection(server.role)
    pending.start(0.0)
    pending.close_gracefully("x")
    assert pending.data_to_send() == []
    assert pending.events() == [ConnectionClosed(None, "", False)]


def test_encode_helpers_agree_with_raw_frames() -> None:
    # Guard for the raw_frame helper used above.
    assert raw_frame(FrameType.CANCEL, 0, 1) == encode_frame(CancelFrame(1))


def test_u3_payload_with_neither_n_nor_c_is_dropped(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=2)
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"nothing", None, False, False, False))
    assert client.events() == []
    assert client.data_to_send() == []
    stream = client.stream(stream_id)
    assert stream is not None
    assert stream.receive_credit == 2  # no credit used

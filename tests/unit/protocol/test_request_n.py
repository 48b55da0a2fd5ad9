"""Request-n flow control: validity, accumulation, saturation, overruns (RN-1..RN-6, D-2, D-17)."""

from __future__ import annotations

import pytest

from aiorsocket.errors import ErrorCode, LocalProtocolError
from aiorsocket.frames import (
    CancelFrame,
    ErrorFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
)
from aiorsocket.frames.types import MAX_U31, FrameType
from aiorsocket.protocol import (
    Connection,
    ConnectionState,
    ErrorReceived,
    PayloadReceived,
    RequestNReceived,
)
from support.protocol_helpers import feed, frames_out, no_text, open_stream_on_server, raw_frame

ZERO_N = b"\x00\x00\x00\x00"


def value(stream_id: int, data: bytes = b"v", *, complete: bool = False) -> PayloadFrame:
    return PayloadFrame(stream_id, data, None, False, complete, True)


def completion(stream_id: int) -> PayloadFrame:
    return PayloadFrame(stream_id, b"", None, False, True, False)


def requester_stream(client: Connection, initial_n: int) -> int:
    stream_id = client.request_stream(b"", initial_n=initial_n)
    client.data_to_send()
    return stream_id


# --------------------------------------------------------------------------- RN-1


@pytest.mark.parametrize(
    "request_frame", [RequestStreamFrame(1, 5), RequestChannelFrame(1, 5)], ids=["stream", "channel"]
)
def test_rn1_request_n_zero_ends_the_responder_stream_with_invalid(
    server: Connection, request_frame: RequestStreamFrame | RequestChannelFrame
) -> None:
    open_stream_on_server(server, request_frame)
    server.receive_frame(raw_frame(FrameType.REQUEST_N, 0, 1, ZERO_N), 0.0)
    assert no_text(frames_out(server)) == [ErrorFrame(1, ErrorCode.INVALID)]
    assert no_text(server.events()) == [ErrorReceived(1, ErrorCode.INVALID, "")]
    assert server.stream(1) is None
    assert server.state is ConnectionState.ESTABLISHED
    assert server.send_payload(1, b"late") is False
    assert server.data_to_send() == []


def test_rn1_request_n_zero_from_a_channel_responder_makes_the_requester_cancel(client: Connection) -> None:
    stream_id = client.request_channel(b"", initial_n=1)
    client.data_to_send()
    client.receive_frame(raw_frame(FrameType.REQUEST_N, 0, stream_id, ZERO_N), 0.0)
    assert frames_out(client) == [CancelFrame(stream_id)]
    assert no_text(client.events()) == [ErrorReceived(stream_id, ErrorCode.INVALID, "")]
    assert client.stream_count == 0


def test_rn1_request_n_zero_for_an_unknown_stream_is_dropped(server: Connection) -> None:
    server.receive_frame(raw_frame(FrameType.REQUEST_N, 0, 1, ZERO_N), 0.0)
    assert server.events() == []
    assert server.data_to_send() == []


@pytest.mark.parametrize(
    "frame_type", [FrameType.REQUEST_STREAM, FrameType.REQUEST_CHANNEL], ids=lambda t: t.name
)
def test_rn1_initial_request_n_zero_gets_invalid_on_that_stream(
    server: Connection, frame_type: FrameType
) -> None:
    server.receive_frame(raw_frame(frame_type, 0, 1, ZERO_N + b"data"), 0.0)
    assert no_text(frames_out(server)) == [ErrorFrame(1, ErrorCode.INVALID)]
    assert server.events() == []  # the driver never saw the request
    assert server.stream_count == 0
    assert server.state is ConnectionState.ESTABLISHED


def test_rn1_initial_request_n_zero_on_a_live_id_is_dropped(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 5))
    server.receive_frame(raw_frame(FrameType.REQUEST_STREAM, 0, 1, ZERO_N), 0.0)
    assert server.data_to_send() == []
    assert server.events() == []
    assert server.stream(1) is not None


def test_rn1_initial_request_n_zero_with_wrong_parity_is_dropped(server: Connection) -> None:
    server.receive_frame(raw_frame(FrameType.REQUEST_STREAM, 0, 2, ZERO_N), 0.0)
    assert server.data_to_send() == []
    assert server.events() == []


def test_rn1_sending_request_n_zero_raises(client: Connection) -> None:
    stream_id = requester_stream(client, 1)
    with pytest.raises(LocalProtocolError):
        client.send_request_n(stream_id, 0)
    assert client.data_to_send() == []


@pytest.mark.parametrize("initial_n", [0, -1])
def test_rn1_invalid_initial_n_raises_without_leaving_a_stream(client: Connection, initial_n: int) -> None:
    with pytest.raises(LocalProtocolError):
        client.request_stream(b"", initial_n=initial_n)
    with pytest.raises(LocalProtocolError):
        client.request_channel(b"", initial_n=initial_n)
    assert client.stream_count == 0
    assert client.data_to_send() == []


def test_d2_initial_n_past_2_31_minus_1_is_sent_as_unbounded(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=MAX_U31 + 1)
    assert frames_out(client) == [RequestStreamFrame(stream_id, MAX_U31)]


# --------------------------------------------------------------------------- RN-2, D-2


def test_rn2_granted_credit_adds_up_for_the_sender(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 3))
    feed(server, RequestNFrame(1, 2))
    assert server.events() == [RequestNReceived(1, 2)]
    for index in range(5):
        assert server.send_payload(1, bytes([index])) is True
    assert frames_out(server) == [value(1, bytes([index])) for index in range(5)]
    with pytest.raises(LocalProtocolError):
        server.send_payload(1, b"sixth")
    assert server.data_to_send() == []


def test_rn2_granted_credit_adds_up_for_the_receiver(client: Connection) -> None:
    stream_id = requester_stream(client, 3)
    assert client.send_request_n(stream_id, 2) is True
    assert frames_out(client) == [RequestNFrame(stream_id, 2)]
    feed(client, *[value(stream_id, bytes([index])) for index in range(5)])
    assert client.events() == [
        PayloadReceived(stream_id, bytes([index]), None, True, False) for index in range(5)
    ]
    assert client.data_to_send() == []
    feed(client, value(stream_id, b"sixth"))
    assert frames_out(client) == [CancelFrame(stream_id)]
    assert no_text(client.events()) == [ErrorReceived(stream_id, ErrorCode.INVALID, "")]


def test_d2_initial_max_u31_is_unbounded_for_the_sender(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, MAX_U31))
    for _ in range(1000):
        server.send_payload(1, b"x")
    stream = server.stream(1)
    assert stream is not None
    assert stream.send_credit == MAX_U31
    feed(server, RequestNFrame(1, 5), RequestNFrame(1, MAX_U31))
    assert stream.send_credit == MAX_U31
    assert len(server.data_to_send()) == 1000


def test_d2_running_total_saturates_at_max_u31_and_never_decrements(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, MAX_U31 - 1))
    feed(server, RequestNFrame(1, 1))  # total 2^31-1: unbounded from here on
    server.events()
    stream = server.stream(1)
    assert stream is not None
    for _ in range(10):
        server.send_payload(1, b"x")
    assert stream.send_credit == MAX_U31
    feed(server, RequestNFrame(1, MAX_U31), RequestNFrame(1, MAX_U31))  # no overflow past the cap
    assert stream.send_credit == MAX_U31


def test_d2_credit_topped_up_past_max_becomes_unbounded(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 10))
    for _ in range(4):
        server.send_payload(1, b"x")
    feed(server, RequestNFrame(1, MAX_U31 - 3))  # 6 left + 2^31-4 ≥ 2^31-1
    stream = server.stream(1)
    assert stream is not None
    assert stream.send_credit == MAX_U31


def test_d2_receiver_grant_of_max_u31_is_unbounded(client: Connection) -> None:
    stream_id = requester_stream(client, MAX_U31)
    feed(client, *[value(stream_id) for _ in range(500)])
    assert len(client.events()) == 500
    assert client.data_to_send() == []  # no overrun CANCEL
    # No more REQUEST_N is ever needed, so none is sent.
    assert client.send_request_n(stream_id, 10) is True
    assert client.data_to_send() == []


def test_d2_receiver_grants_that_reach_max_u31_stop_further_request_n(client: Connection) -> None:
    stream_id = requester_stream(client, MAX_U31 - 2)
    assert client.send_request_n(stream_id, 5) is True
    assert frames_out(client) == [RequestNFrame(stream_id, 5)]
    assert client.send_request_n(stream_id, 5) is True
    assert client.data_to_send() == []


def test_rn2_request_n_above_u31_is_capped_on_the_wire(client: Connection) -> None:
    stream_id = requester_stream(client, 1)
    assert client.send_request_n(stream_id, 2**40) is True
    assert frames_out(client) == [RequestNFrame(stream_id, MAX_U31)]


# --------------------------------------------------------------------------- RN-3


def test_rn3_send_payload_without_credit_raises(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    assert server.send_payload(1, b"one") is True
    with pytest.raises(LocalProtocolError):
        server.send_payload(1, b"two")
    with pytest.raises(LocalProtocolError):
        server.send_payload(1, b"two", complete=True)  # N|C needs a credit too
    assert frames_out(server) == [value(1, b"one")]
    assert server.stream(1) is not None  # the stream survives our misuse


def test_rn3_completion_needs_no_credit(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.send_payload(1, b"one")
    assert server.send_complete(1) is True
    assert frames_out(server) == [value(1, b"one"), completion(1)]
    assert server.stream_count == 0


def test_rn3_error_needs_no_credit(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.send_payload(1, b"one")
    assert server.send_error(1, ErrorCode.APPLICATION_ERROR, "boom") is True
    assert frames_out(server) == [value(1, b"one"), ErrorFrame(1, ErrorCode.APPLICATION_ERROR, b"boom")]
    assert server.stream_count == 0


def test_rn3_request_n_restores_the_right_to_send(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.send_payload(1, b"one")
    feed(server, RequestNFrame(1, 1))
    assert server.send_payload(1, b"two") is True


def test_rn3_peer_overrun_on_request_stream_makes_the_requester_cancel(client: Connection) -> None:
    stream_id = requester_stream(client, 2)
    feed(
        client, value(stream_id, b"1"), value(stream_id, b"2"), value(stream_id, b"3"), value(stream_id, b"4")
    )
    assert no_text(client.events()) == [
        PayloadReceived(stream_id, b"1", None, True, False),
        PayloadReceived(stream_id, b"2", None, True, False),
        ErrorReceived(stream_id, ErrorCode.INVALID, ""),
    ]
    assert frames_out(client) == [CancelFrame(stream_id)]  # once, and the 4th is dropped
    assert client.stream_count == 0


def test_rn3_peer_overrun_with_n_and_c_is_still_an_overrun(client: Connection) -> None:
    stream_id = requester_stream(client, 1)
    feed(client, value(stream_id, b"1"), value(stream_id, b"2", complete=True))
    assert no_text(client.events()) == [
        PayloadReceived(stream_id, b"1", None, True, False),
        ErrorReceived(stream_id, ErrorCode.INVALID, ""),
    ]
    assert frames_out(client) == [CancelFrame(stream_id)]


def test_rn3_peer_overrun_on_a_channel_gets_invalid_from_the_responder(server: Connection) -> None:
    open_stream_on_server(server, RequestChannelFrame(1, 5, b"first"))
    # RC-2: no REQUEST_N from us yet, so any PAYLOAD from the requester is an overrun.
    feed(server, value(1, b"uninvited"))
    assert no_text(frames_out(server)) == [ErrorFrame(1, ErrorCode.INVALID)]
    assert no_text(server.events()) == [ErrorReceived(1, ErrorCode.INVALID, "")]
    assert server.stream_count == 0


def test_rn3_inbound_completion_needs_no_credit(client: Connection) -> None:
    stream_id = requester_stream(client, 1)
    feed(client, value(stream_id, b"only"), completion(stream_id))
    assert client.events() == [
        PayloadReceived(stream_id, b"only", None, True, False),
        PayloadReceived(stream_id, b"", None, False, True),
    ]
    assert client.data_to_send() == []
    assert client.stream_count == 0


def test_rn3_inbound_error_needs_no_credit(client: Connection) -> None:
    stream_id = requester_stream(client, 1)
    feed(client, value(stream_id), ErrorFrame(stream_id, ErrorCode.APPLICATION_ERROR, b"bad"))
    assert client.events() == [
        PayloadReceived(stream_id, b"v", None, True, False),
        ErrorReceived(stream_id, ErrorCode.APPLICATION_ERROR, "bad"),
    ]
    assert client.data_to_send() == []


# --------------------------------------------------------------------------- RN-6


def test_rn6_request_stream_responder_cannot_send_request_n(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    assert server.send_request_n(1, 5) is False
    assert server.data_to_send() == []


def test_rn6_request_stream_requester_ignores_request_n(client: Connection) -> None:
    stream_id = requester_stream(client, 1)
    feed(client, RequestNFrame(stream_id, 5))
    assert client.events() == []
    assert client.data_to_send() == []
    stream = client.stream(stream_id)
    assert stream is not None
    assert stream.send_credit == 0


def test_rn6_request_response_responder_ignores_request_n(server: Connection) -> None:
    open_stream_on_server(server, RequestResponseFrame(1, b"q"))
    feed(server, RequestNFrame(1, 5))
    assert server.events() == []
    assert server.send_payload(1, b"answer") is True
    assert frames_out(server) == [value(1, b"answer", complete=True)]


def test_rn6_request_response_requester_sends_no_request_n(client: Connection) -> None:
    stream_id = client.request_response(b"q")
    client.data_to_send()
    assert client.send_request_n(stream_id, 3) is False
    assert client.data_to_send() == []

"""The four interaction models, frame by frame (RR-1..RR-4, FF-1/FF-2, RS-1..RS-3, RC-1..RC-8, D-12)."""

from __future__ import annotations

import pytest

from aiorsocket.errors import ErrorCode, LocalProtocolError
from aiorsocket.frames import (
    CancelFrame,
    ErrorFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
)
from aiorsocket.protocol import (
    CancelReceived,
    Connection,
    ErrorReceived,
    PayloadReceived,
    RequestKind,
    RequestNReceived,
    RequestReceived,
)
from support.protocol_helpers import Pair, feed, frames_out, open_stream_on_server

STREAM_END_CODES = [
    ErrorCode.APPLICATION_ERROR,
    ErrorCode.REJECTED,
    ErrorCode.CANCELED,
    ErrorCode.INVALID,
    0x00000301,
    0xFFFFFFFE,
]


def value(
    stream_id: int, data: bytes = b"v", metadata: bytes | None = None, *, complete: bool = False
) -> PayloadFrame:
    return PayloadFrame(stream_id, data, metadata, False, complete, True)


def completion(stream_id: int) -> PayloadFrame:
    return PayloadFrame(stream_id, b"", None, False, True, False)


# =========================================================================== request-response


def test_rr1_requester_sends_request_response_and_takes_the_value(client: Connection) -> None:
    stream_id = client.request_response(b"question", b"md")
    assert frames_out(client) == [RequestResponseFrame(stream_id, b"question", b"md")]
    assert client.send_payload(stream_id, b"x") is False  # the requester has nothing more to send
    assert client.send_complete(stream_id) is False
    feed(client, value(stream_id, b"answer", b"amd", complete=True))
    assert client.events() == [PayloadReceived(stream_id, b"answer", b"amd", True, True)]
    assert client.data_to_send() == []
    assert client.stream_count == 0


def test_rr1_responder_answers_with_next_and_complete(server: Connection) -> None:
    feed(server, RequestResponseFrame(1, b"question", b"md"))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"question", b"md", 0, False)]
    assert server.send_payload(1, b"answer") is True  # complete=False still completes (RR-1)
    assert frames_out(server) == [value(1, b"answer", complete=True)]
    assert server.stream_count == 0


def test_rr1_empty_response_is_a_c_only_payload(server: Connection) -> None:
    open_stream_on_server(server, RequestResponseFrame(1, b"q"))
    assert server.send_complete(1) is True
    assert frames_out(server) == [completion(1)]
    assert server.stream_count == 0


def test_rr1_requester_accepts_a_c_only_empty_response(client: Connection) -> None:
    stream_id = client.request_response(b"q")
    client.data_to_send()
    feed(client, completion(stream_id))
    assert client.events() == [PayloadReceived(stream_id, b"", None, False, True)]
    assert client.stream_count == 0


@pytest.mark.parametrize("code", STREAM_END_CODES, ids=hex)
def test_rr2_responder_error_ends_the_request(code: int) -> None:
    pair = Pair()
    stream_id = pair.client.request_response(b"q")
    pair.pump()
    pair.take_server_events()
    assert pair.server.send_error(stream_id, code, "nope") is True
    pair.pump()
    assert pair.s2c[-1] == ErrorFrame(stream_id, code, b"nope")
    assert pair.take_client_events() == [ErrorReceived(stream_id, code, "nope")]
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_rr2_requester_cancel_ends_the_request(pair: Pair) -> None:
    stream_id = pair.client.request_response(b"q")
    pair.pump()
    pair.take_server_events()
    assert pair.client.send_cancel(stream_id) is True
    assert pair.client.stream_count == 0
    pair.pump()
    assert pair.c2s[-1] == CancelFrame(stream_id)
    assert pair.take_server_events() == [CancelReceived(stream_id)]
    assert pair.server.stream_count == 0
    # RR-4: after the CANCEL the responder does not send the response.
    assert pair.server.send_payload(stream_id, b"late") is False
    assert pair.in_flight == 0


def test_rr3_payload_without_c_is_treated_as_complete(client: Connection) -> None:
    stream_id = client.request_response(b"q")
    client.data_to_send()
    feed(client, value(stream_id, b"answer"))
    assert client.events() == [PayloadReceived(stream_id, b"answer", None, True, True)]
    assert client.stream_count == 0
    feed(client, value(stream_id, b"second"))  # the stream is over: dropped
    assert client.events() == []
    assert client.data_to_send() == []


def test_rr4_responder_stream_ends_when_it_sends(server: Connection) -> None:
    open_stream_on_server(server, RequestResponseFrame(1, b"q"))
    server.send_payload(1, b"a")
    assert server.send_payload(1, b"b") is False
    assert server.send_complete(1) is False
    assert server.send_error(1, ErrorCode.APPLICATION_ERROR, "x") is False
    assert frames_out(server) == [value(1, b"a", complete=True)]


# =========================================================================== fire-and-forget


def test_ff1_requester_sends_the_request_and_keeps_no_stream(client: Connection) -> None:
    stream_id = client.request_fire_and_forget(b"data", b"md")
    assert frames_out(client) == [RequestFnfFrame(stream_id, b"data", b"md")]
    assert client.stream_count == 0
    assert client.send_cancel(stream_id) is False
    assert client.data_to_send() == []


def test_ff1_responder_gets_the_request_and_answers_nothing(server: Connection) -> None:
    feed(server, RequestFnfFrame(1, b"data", b"md"))
    assert server.events() == [RequestReceived(1, RequestKind.FIRE_AND_FORGET, b"data", b"md", 0, False)]
    assert server.data_to_send() == []
    assert server.stream_count == 0
    assert server.send_payload(1, b"x") is False
    assert server.send_error(1, ErrorCode.APPLICATION_ERROR, "x") is False
    feed(server, CancelFrame(1))  # a late CANCEL names an unknown stream
    assert server.events() == []
    assert server.data_to_send() == []


def test_ff2_fire_and_forget_end_to_end(pair: Pair) -> None:
    pair.client.request_fire_and_forget(b"one")
    pair.client.request_fire_and_forget(b"two")
    pair.pump()
    assert pair.take_server_events() == [
        RequestReceived(1, RequestKind.FIRE_AND_FORGET, b"one", None, 0, False),
        RequestReceived(3, RequestKind.FIRE_AND_FORGET, b"two", None, 0, False),
    ]
    assert pair.s2c == []
    assert pair.client.stream_count == pair.server.stream_count == 0


# =========================================================================== request-stream


def test_rs1_stream_of_values_then_complete(pair: Pair) -> None:
    stream_id = pair.client.request_stream(b"go", b"md", initial_n=2)
    pair.pump()
    assert pair.c2s[-1] == RequestStreamFrame(stream_id, 2, b"go", b"md")
    assert pair.take_server_events() == [
        RequestReceived(stream_id, RequestKind.REQUEST_STREAM, b"go", b"md", 2, False)
    ]
    pair.server.send_payload(stream_id, b"a")
    pair.server.send_payload(stream_id, b"b", b"m")
    pair.server.send_complete(stream_id)
    pair.pump()
    assert pair.s2c == [value(stream_id, b"a"), value(stream_id, b"b", b"m"), completion(stream_id)]
    assert pair.take_client_events() == [
        PayloadReceived(stream_id, b"a", None, True, False),
        PayloadReceived(stream_id, b"b", b"m", True, False),
        PayloadReceived(stream_id, b"", None, False, True),
    ]
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_rs1_last_value_may_carry_complete(pair: Pair) -> None:
    stream_id = pair.client.request_stream(b"", initial_n=1)
    pair.pump()
    pair.server.send_payload(stream_id, b"only", complete=True)
    pair.pump()
    assert pair.s2c == [value(stream_id, b"only", complete=True)]
    assert pair.take_client_events() == [PayloadReceived(stream_id, b"only", None, True, True)]
    assert pair.client.stream_count == pair.server.stream_count == 0


@pytest.mark.parametrize("code", STREAM_END_CODES, ids=hex)
def test_rs1_stream_may_end_with_an_error(pair: Pair, code: int) -> None:
    stream_id = pair.client.request_stream(b"", initial_n=5)
    pair.pump()
    pair.server.send_payload(stream_id, b"a")
    pair.server.send_error(stream_id, code, "bad")
    pair.pump()
    assert pair.take_client_events() == [
        PayloadReceived(stream_id, b"a", None, True, False),
        ErrorReceived(stream_id, code, "bad"),
    ]
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_rs2_requester_may_send_request_n_at_any_time(pair: Pair) -> None:
    stream_id = pair.client.request_stream(b"", initial_n=1)
    pair.client.send_request_n(stream_id, 2)  # even before the request arrives
    pair.pump()
    assert pair.c2s[-2:] == [RequestStreamFrame(stream_id, 1), RequestNFrame(stream_id, 2)]
    events = pair.take_server_events()
    assert events[-1] == RequestNReceived(stream_id, 2)
    for index in range(3):
        pair.server.send_payload(stream_id, bytes([index]))
    pair.client.send_request_n(stream_id, 1)
    pair.pump()
    assert pair.take_server_events() == [RequestNReceived(stream_id, 1)]
    pair.server.send_payload(stream_id, b"4")
    pair.pump()
    assert len(pair.take_client_events()) == 4


def test_rs3_requester_cancel_ends_both_sides(pair: Pair) -> None:
    stream_id = pair.client.request_stream(b"", initial_n=10)
    pair.pump()
    pair.take_server_events()
    pair.client.send_cancel(stream_id)
    pair.pump()
    assert pair.c2s[-1] == CancelFrame(stream_id)
    assert pair.take_server_events() == [CancelReceived(stream_id)]
    assert pair.client.stream_count == pair.server.stream_count == 0
    assert pair.server.send_payload(stream_id, b"late") is False


def test_rs3_requester_cancel_wins_over_values_in_flight(pair: Pair) -> None:
    stream_id = pair.client.request_stream(b"", initial_n=10)
    pair.pump()
    pair.server.send_payload(stream_id, b"in flight")
    pair.client.send_cancel(stream_id)
    pair.pump()
    assert pair.take_client_events() == []  # the value arrived after our CANCEL: dropped
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_rs3_request_stream_responder_cannot_cancel_or_receive(server: Connection) -> None:
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    assert server.send_cancel(1) is False
    feed(server, value(1, b"requester may not send values"))
    assert server.events() == []
    assert server.data_to_send() == []
    assert server.stream(1) is not None


def test_rs1_requester_cannot_send_values(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=1)
    client.data_to_send()
    assert client.send_payload(stream_id, b"x") is False
    assert client.send_complete(stream_id) is False
    assert client.data_to_send() == []


# =========================================================================== request-channel


def test_rc1_request_channel_carries_the_first_payload(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"first", b"md", initial_n=3)
    pair.pump()
    assert pair.c2s[-1] == RequestChannelFrame(stream_id, 3, b"first", b"md", False, False)
    assert pair.take_server_events() == [
        RequestReceived(stream_id, RequestKind.REQUEST_CHANNEL, b"first", b"md", 3, False)
    ]
    # The responder may send up to the initial n at once.
    for index in range(3):
        assert pair.server.send_payload(stream_id, bytes([index])) is True
    with pytest.raises(LocalProtocolError):
        pair.server.send_payload(stream_id, b"too many")


def test_rc2_requester_waits_for_request_n_before_sending(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=1)
    with pytest.raises(LocalProtocolError):
        pair.client.send_payload(stream_id, b"second")
    pair.pump()
    pair.take_server_events()
    assert pair.server.send_request_n(stream_id, 2) is True
    pair.pump()
    assert pair.s2c[-1] == RequestNFrame(stream_id, 2)
    assert pair.take_client_events() == [RequestNReceived(stream_id, 2)]
    pair.client.send_payload(stream_id, b"second")
    pair.client.send_payload(stream_id, b"third")
    with pytest.raises(LocalProtocolError):
        pair.client.send_payload(stream_id, b"fourth")
    pair.pump()
    assert pair.c2s[-2:] == [value(stream_id, b"second"), value(stream_id, b"third")]
    assert pair.take_server_events() == [
        PayloadReceived(stream_id, b"second", None, True, False),
        PayloadReceived(stream_id, b"third", None, True, False),
    ]


def test_rc3_requester_half_closes_with_c_on_request_channel(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"only", initial_n=2, complete=True)
    pair.pump()
    assert pair.c2s[-1] == RequestChannelFrame(stream_id, 2, b"only", None, False, True)
    assert pair.take_server_events() == [
        RequestReceived(stream_id, RequestKind.REQUEST_CHANNEL, b"only", None, 2, True)
    ]
    assert pair.server.send_request_n(stream_id, 1) is False  # nothing more can come in
    assert pair.client.send_payload(stream_id, b"x") is False
    # The responder→requester direction stays open.
    pair.server.send_payload(stream_id, b"r1")
    pair.server.send_payload(stream_id, b"r2", complete=True)
    pair.pump()
    assert pair.take_client_events() == [
        PayloadReceived(stream_id, b"r1", None, True, False),
        PayloadReceived(stream_id, b"r2", None, True, True),
    ]
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_rc3_requester_half_closes_with_a_later_payload(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=1)
    pair.pump()
    pair.server.send_request_n(stream_id, 5)
    pair.pump()
    pair.client.send_payload(stream_id, b"last", complete=True)
    assert pair.client.send_payload(stream_id, b"after") is False
    assert pair.client.send_complete(stream_id) is False
    pair.pump()
    assert pair.c2s[-1] == value(stream_id, b"last", complete=True)
    pair.take_server_events()
    pair.server.send_payload(stream_id, b"still open")
    pair.pump()
    assert pair.take_client_events()[-1] == PayloadReceived(stream_id, b"still open", None, True, False)
    assert pair.client.stream(stream_id) is not None
    assert pair.server.stream(stream_id) is not None


def test_rc4_responder_half_closes_and_the_requester_keeps_sending(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=1)
    pair.pump()
    pair.server.send_request_n(stream_id, 3)
    pair.server.send_complete(stream_id)
    pair.pump()
    assert pair.s2c[-2:] == [RequestNFrame(stream_id, 3), completion(stream_id)]
    assert pair.take_client_events() == [
        RequestNReceived(stream_id, 3),
        PayloadReceived(stream_id, b"", None, False, True),
    ]
    pair.client.send_payload(stream_id, b"a")
    pair.client.send_payload(stream_id, b"b")
    pair.pump()
    assert pair.client.stream(stream_id) is not None
    # RC-5: both sides have sent and received COMPLETE: the stream is over.
    pair.client.send_complete(stream_id)
    pair.pump()
    assert pair.take_server_events()[-1] == PayloadReceived(stream_id, b"", None, False, True)
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_rc5_channel_ends_once_both_sides_complete(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=1)
    pair.pump()
    pair.server.send_request_n(stream_id, 1)
    pair.pump()
    pair.client.send_payload(stream_id, b"c", complete=True)
    pair.pump()
    assert pair.client.stream(stream_id) is not None
    assert pair.server.stream(stream_id) is not None
    pair.server.send_payload(stream_id, b"s", complete=True)
    assert pair.server.stream_count == 0
    pair.pump()
    assert pair.client.stream_count == 0


@pytest.mark.parametrize("side", ["requester", "responder"])
@pytest.mark.parametrize("half_closed", ["none", "requester", "responder"])
def test_rc6_error_ends_both_halves_at_once(pair: Pair, side: str, half_closed: str) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=5)
    pair.pump()
    pair.server.send_request_n(stream_id, 5)
    pair.pump()
    if half_closed == "requester":
        pair.client.send_complete(stream_id)
    elif half_closed == "responder":
        pair.server.send_complete(stream_id)
    pair.pump()
    pair.take_client_events()
    pair.take_server_events()
    sender, receiver_events = (
        (pair.client, pair.take_server_events)
        if side == "requester"
        else (pair.server, pair.take_client_events)
    )
    assert sender.send_error(stream_id, ErrorCode.APPLICATION_ERROR, "stop") is True
    assert sender.stream_count == 0
    pair.pump()
    assert receiver_events() == [ErrorReceived(stream_id, ErrorCode.APPLICATION_ERROR, "stop")]
    assert pair.client.stream_count == pair.server.stream_count == 0
    assert pair.in_flight == 0


@pytest.mark.parametrize("requester_completed", [False, True])
def test_rc7_requester_cancel_ends_both_halves(pair: Pair, requester_completed: bool) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=5)
    pair.pump()
    pair.server.send_request_n(stream_id, 5)
    pair.pump()
    if requester_completed:
        pair.client.send_complete(stream_id)  # the spec's example: COMPLETE, then CANCEL
    pair.client.send_cancel(stream_id)
    assert pair.client.stream_count == 0
    pair.pump()
    assert pair.c2s[-1] == CancelFrame(stream_id)
    assert pair.take_server_events()[-1] == CancelReceived(stream_id)
    assert pair.server.stream_count == 0
    assert pair.server.send_payload(stream_id, b"late") is False
    assert pair.server.send_request_n(stream_id, 1) is False


def test_d12_responder_cancel_stops_only_the_requester_outbound_half(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=5)
    pair.pump()
    pair.server.send_request_n(stream_id, 5)
    pair.pump()
    pair.take_client_events()
    pair.take_server_events()
    assert pair.server.send_cancel(stream_id) is True
    assert pair.server.stream(stream_id) is not None  # its outbound half is still open
    pair.pump()
    assert pair.s2c[-1] == CancelFrame(stream_id)
    assert pair.take_client_events() == [CancelReceived(stream_id)]
    assert pair.client.send_payload(stream_id, b"x") is False
    assert pair.client.send_complete(stream_id) is False
    # Inbound to the requester continues.
    pair.server.send_payload(stream_id, b"more")
    pair.server.send_payload(stream_id, b"last", complete=True)
    pair.pump()
    assert pair.take_client_events() == [
        PayloadReceived(stream_id, b"more", None, True, False),
        PayloadReceived(stream_id, b"last", None, True, True),
    ]
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_d12_requester_values_crossing_the_responder_cancel_are_dropped(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=5)
    pair.pump()
    pair.server.send_request_n(stream_id, 5)
    pair.pump()
    pair.take_server_events()
    pair.server.send_cancel(stream_id)
    pair.client.send_payload(stream_id, b"crossing")  # sent before the CANCEL arrives
    pair.pump()
    assert pair.take_server_events() == []
    assert pair.server.stream(stream_id) is not None
    assert pair.server.send_request_n(stream_id, 1) is False


def test_d12_responder_cancel_after_the_requester_completed_sends_nothing(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"only", initial_n=5, complete=True)
    pair.pump()
    pair.take_server_events()
    assert pair.server.send_cancel(stream_id) is False
    assert pair.in_flight == 0


def test_rc8_both_sides_of_a_channel_grant_credit(pair: Pair) -> None:
    stream_id = pair.client.request_channel(b"first", initial_n=1)
    pair.pump()
    pair.server.send_request_n(stream_id, 1)
    pair.server.send_payload(stream_id, b"s1")
    with pytest.raises(LocalProtocolError):
        pair.server.send_payload(stream_id, b"s2")
    pair.client.send_request_n(stream_id, 1)
    pair.pump()
    assert pair.take_server_events()[-1] == RequestNReceived(stream_id, 1)
    assert pair.server.send_payload(stream_id, b"s2") is True
    assert pair.client.send_payload(stream_id, b"c1") is True
    pair.pump()
    assert pair.take_client_events()[-1] == PayloadReceived(stream_id, b"s2", None, True, False)
    assert pair.take_server_events() == [PayloadReceived(stream_id, b"c1", None, True, False)]

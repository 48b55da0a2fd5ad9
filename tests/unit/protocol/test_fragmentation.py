"""Fragmentation and reassembly (FR-1..FR-9, D-13)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    decode_frame,
)
from aiorsocket.protocol import (
    CancelReceived,
    Connection,
    ConnectionConfig,
    ErrorReceived,
    PayloadReceived,
    RequestKind,
    RequestReceived,
)
from support.protocol_helpers import (
    feed,
    frames_out,
    make_client,
    make_server,
    no_text,
    open_stream_on_server,
)

MessageFrame = (
    RequestResponseFrame | RequestFnfFrame | RequestStreamFrame | RequestChannelFrame | PayloadFrame
)


def fragmenting_client(size: int = 64) -> Connection:
    return make_client(ConnectionConfig(fragment_size=size))


def fragmenting_server(size: int = 64) -> Connection:
    return make_server(ConnectionConfig(fragment_size=size))


def sent_with_sizes(conn: Connection) -> list[tuple[int, Frame]]:
    return [(len(buf), decode_frame(buf)) for buf in conn.data_to_send()]


def joined(frames: list[Frame]) -> tuple[bytes | None, bytes]:
    """Reassemble by hand: metadata pieces in order, data pieces in order (FR-4)."""
    metadata: bytes | None = None
    data = b""
    for frame in frames:
        assert isinstance(frame, MessageFrame)
        if frame.metadata is not None:
            metadata = (metadata or b"") + frame.metadata
        data += frame.data
    return metadata, data


def check_fragment_layout(frames: list[Frame], first_type: type, size: int, has_metadata: bool) -> None:
    """FR-2, FR-3, FR-5, FR-6: the shape every fragmented message must have."""
    assert len(frames) >= 2
    assert isinstance(frames[0], first_type)
    for frame in frames[1:]:
        assert isinstance(frame, PayloadFrame)
        assert frame.next  # FR-6: continuations are "next" fragments, as rsocket-java sends them
    assert [frame.follows for frame in frames] == [True] * (len(frames) - 1) + [False]  # type: ignore[union-attr]
    for frame in frames[:-1]:
        assert not getattr(frame, "complete", False)  # FR-5: C only on the last fragment
    # FR-3: metadata fragments form a prefix, each with M and its own length; then data only.
    with_metadata = [frame.metadata is not None for frame in frames]  # type: ignore[union-attr]
    if has_metadata:
        assert with_metadata[0]
    seen_data = False
    for frame, has_md in zip(frames, with_metadata, strict=True):
        assert isinstance(frame, MessageFrame)
        if seen_data:
            assert not has_md
        if frame.data:
            seen_data = True
        if not has_md and not seen_data:
            assert frame is frames[0]
            assert not has_metadata


# --------------------------------------------------------------------------- outbound


def test_fr2_request_is_split_into_request_frame_then_payload_continuations() -> None:
    client = fragmenting_client(64)
    stream_id = client.request_response(b"d" * 100, b"m" * 60)
    sent = sent_with_sizes(client)
    assert sent == [
        (64, RequestResponseFrame(stream_id, b"", b"m" * 55, True)),
        (64, PayloadFrame(stream_id, b"d" * 50, b"m" * 5, True, False, True)),
        (56, PayloadFrame(stream_id, b"d" * 50, None, False, False, True)),
    ]


def test_fr2_request_stream_first_fragment_carries_the_initial_n() -> None:
    client = fragmenting_client(64)
    stream_id = client.request_stream(b"x" * 200, initial_n=7)
    sent = sent_with_sizes(client)
    assert all(size <= 64 for size, _ in sent)
    assert sent[0] == (64, RequestStreamFrame(stream_id, 7, b"x" * 54, None, True))
    frames = [frame for _, frame in sent]
    check_fragment_layout(frames, RequestStreamFrame, 64, has_metadata=False)
    assert joined(frames) == (None, b"x" * 200)


def test_fr5_request_channel_with_complete_puts_c_on_the_last_fragment_only() -> None:
    client = fragmenting_client(64)
    stream_id = client.request_channel(b"x" * 150, b"md", initial_n=2, complete=True)
    frames = frames_out(client)
    check_fragment_layout(frames, RequestChannelFrame, 64, has_metadata=True)
    first = frames[0]
    assert isinstance(first, RequestChannelFrame)
    assert first == RequestChannelFrame(stream_id, 2, b"x" * 49, b"md", True, False)
    last = frames[-1]
    assert last == PayloadFrame(stream_id, b"x" * 43, None, False, True, True)
    assert joined(frames) == (b"md", b"x" * 150)


def test_fr2_payload_split_keeps_n_on_every_fragment_and_c_on_the_last() -> None:
    server = fragmenting_server(64)
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.send_payload(1, b"y" * 130, complete=True)
    assert sent_with_sizes(server) == [
        (64, PayloadFrame(1, b"y" * 58, None, True, False, True)),
        (64, PayloadFrame(1, b"y" * 58, None, True, False, True)),
        (20, PayloadFrame(1, b"y" * 14, None, False, True, True)),
    ]


def test_fr2_request_response_answer_split_ends_with_n_and_c() -> None:
    server = fragmenting_server(64)
    open_stream_on_server(server, RequestResponseFrame(1, b"q"))
    server.send_payload(1, b"z" * 100)
    frames = frames_out(server)
    check_fragment_layout(frames, PayloadFrame, 64, has_metadata=False)
    assert frames[-1] == PayloadFrame(1, b"z" * 42, None, False, True, True)


def test_fr1_messages_that_fit_are_not_fragmented() -> None:
    client = fragmenting_client(64)
    stream_id = client.request_response(b"d" * 55)  # exactly 61 bytes... plus nothing
    client.request_response(b"d" * 58)  # exactly 64 bytes
    assert sent_with_sizes(client) == [
        (61, RequestResponseFrame(stream_id, b"d" * 55)),
        (64, RequestResponseFrame(stream_id + 2, b"d" * 58)),
    ]


def test_fr1_completion_and_control_frames_are_never_fragmented() -> None:
    server = fragmenting_server(64)
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    server.send_error(1, ErrorCode.APPLICATION_ERROR, "e" * 200)  # ERROR must fit in one frame
    frames = frames_out(server)
    assert frames == [ErrorFrame(1, ErrorCode.APPLICATION_ERROR, b"e" * 200)]


def test_fr7_fragmented_value_uses_one_credit_when_sent() -> None:
    server = fragmenting_server(64)
    open_stream_on_server(server, RequestStreamFrame(1, 1))
    assert server.send_payload(1, b"big" * 100) is True
    assert len(server.data_to_send()) > 1
    with pytest.raises(LocalProtocolError):
        server.send_payload(1, b"again")


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(64, 200),
    data=st.binary(max_size=600),
    metadata=st.none() | st.binary(max_size=400),
    kind=st.sampled_from(["response", "fnf", "stream", "channel"]),
)
def test_fr3_any_split_has_the_required_shape(
    size: int, data: bytes, metadata: bytes | None, kind: str
) -> None:
    client = fragmenting_client(size)
    first_type: type
    if kind == "response":
        client.request_response(data, metadata)
        first_type = RequestResponseFrame
    elif kind == "fnf":
        client.request_fire_and_forget(data, metadata)
        first_type = RequestFnfFrame
    elif kind == "stream":
        client.request_stream(data, metadata, initial_n=3)
        first_type = RequestStreamFrame
    else:
        client.request_channel(data, metadata, initial_n=3)
        first_type = RequestChannelFrame
    sent = sent_with_sizes(client)
    assert all(length <= size for length, _ in sent)
    frames = [frame for _, frame in sent]
    if len(frames) == 1:
        assert isinstance(frames[0], first_type)
        assert not frames[0].follows
    else:
        check_fragment_layout(frames, first_type, size, has_metadata=metadata is not None)
        # No fragment is wasted: every one but the last is full (FR-10 wants non-final ≥ 61 bytes).
        assert all(length == size for length, _ in sent[:-1])
    assert joined(frames) == (metadata, data)


# --------------------------------------------------------------------------- inbound


def test_fr4_fragmented_request_is_reassembled(server: Connection) -> None:
    feed(server, RequestStreamFrame(1, 5, b"", b"m1", True))
    feed(server, PayloadFrame(1, b"d1", b"m2", True, False, True))
    assert server.events() == []  # nothing until the last fragment
    feed(server, PayloadFrame(1, b"d2", None, False, False, True))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_STREAM, b"d1d2", b"m1m2", 5, False)]
    assert server.data_to_send() == []
    assert server.send_payload(1, b"ok") is True  # the request's credit is intact


def test_fr4_fragmented_fire_and_forget_leaves_no_stream(server: Connection) -> None:
    feed(server, RequestFnfFrame(1, b"a", None, True), PayloadFrame(1, b"b", None, False, False, True))
    assert server.events() == [RequestReceived(1, RequestKind.FIRE_AND_FORGET, b"ab", None, 0, False)]
    assert server.stream_count == 0


def test_fr4_fragmented_channel_request_with_c_on_the_last_fragment(server: Connection) -> None:
    feed(
        server,
        RequestChannelFrame(1, 2, b"a", None, True, False),
        PayloadFrame(1, b"b", None, False, True, True),
    )
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_CHANNEL, b"ab", None, 2, True)]


def test_fr4_empty_metadata_on_the_first_fragment_is_kept(server: Connection) -> None:
    feed(server, RequestResponseFrame(1, b"a", b"", True), PayloadFrame(1, b"b", None, False, False, True))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"ab", b"", 0, False)]


def test_fr4_fragmented_payload_is_reassembled(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=1)
    client.data_to_send()
    feed(
        client,
        PayloadFrame(stream_id, b"", b"meta-", True, False, True),
        PayloadFrame(stream_id, b"da", b"data", True, False, True),
        PayloadFrame(stream_id, b"ta", None, False, True, True),
    )
    assert client.events() == [PayloadReceived(stream_id, b"data", b"meta-data", True, True)]
    assert client.data_to_send() == []
    assert client.stream_count == 0


def test_fr7_fragmented_inbound_value_uses_one_credit(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=1)
    client.data_to_send()
    fragments = [PayloadFrame(stream_id, b"x", None, True, False, True) for _ in range(5)]
    feed(client, *fragments, PayloadFrame(stream_id, b"y", None, False, False, True))
    feed(client, PayloadFrame(stream_id, b"", None, False, True, False))
    assert client.events() == [
        PayloadReceived(stream_id, b"xxxxxy", None, True, False),
        PayloadReceived(stream_id, b"", None, False, True),
    ]
    assert client.data_to_send() == []


def test_fr6_request_continuations_without_n_are_accepted(server: Connection) -> None:
    feed(
        server,
        RequestResponseFrame(1, b"a", None, True),
        PayloadFrame(1, b"b", None, True, False, False),
        PayloadFrame(1, b"c", None, False, False, False),
    )
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"abc", None, 0, False)]


def test_fr6_payload_continuations_without_n_are_accepted(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=2)
    client.data_to_send()
    feed(
        client,
        PayloadFrame(stream_id, b"a", None, True, False, True),
        PayloadFrame(stream_id, b"b", None, True, False, False),
        PayloadFrame(stream_id, b"c", None, False, False, False),
    )
    assert client.events() == [PayloadReceived(stream_id, b"abc", None, True, False)]


def test_fr5_payload_with_f_and_c_ends_the_message(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=2)
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"a", None, True, False, True))
    feed(client, PayloadFrame(stream_id, b"b", None, True, True, True))
    assert client.events() == [PayloadReceived(stream_id, b"ab", None, True, True)]
    assert client.stream_count == 0


def test_fr5_single_payload_with_f_and_c_is_whole(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=2)
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"a", None, True, True, True))
    assert client.events() == [PayloadReceived(stream_id, b"a", None, True, True)]


def test_fr5_request_continuation_with_f_and_c_ends_the_request(server: Connection) -> None:
    feed(
        server,
        RequestChannelFrame(1, 3, b"a", None, True, False),
        PayloadFrame(1, b"b", None, True, True, True),
    )
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_CHANNEL, b"ab", None, 3, True)]


def test_fr5_request_channel_with_f_and_c_is_whole(server: Connection) -> None:
    feed(server, RequestChannelFrame(1, 3, b"all", None, True, True))
    assert server.events() == [RequestReceived(1, RequestKind.REQUEST_CHANNEL, b"all", None, 3, True)]
    stream = server.stream(1)
    assert stream is not None
    assert stream.reassembly is None


@pytest.mark.parametrize(
    "abort", [CancelFrame(1), ErrorFrame(1, ErrorCode.APPLICATION_ERROR, b"abandon")], ids=["cancel", "error"]
)
def test_fr8_cancel_or_error_mid_request_drops_the_partial_request(server: Connection, abort: Frame) -> None:
    feed(
        server,
        RequestStreamFrame(1, 5, b"part", None, True),
        PayloadFrame(1, b"more", None, True, False, True),
    )
    feed(server, abort)
    assert server.events() == []  # the driver never saw the request, so hears nothing of it
    assert server.data_to_send() == []
    assert server.stream_count == 0
    feed(server, PayloadFrame(1, b"tail", None, False, False, True))  # the stream is gone
    assert server.events() == []
    assert server.data_to_send() == []


def test_fr8_error_mid_payload_drops_the_partial_value(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=2)
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"part", None, True, False, True))
    feed(client, ErrorFrame(stream_id, ErrorCode.APPLICATION_ERROR, b"abandon"))
    assert client.events() == [ErrorReceived(stream_id, ErrorCode.APPLICATION_ERROR, "abandon")]
    assert client.stream_count == 0


def test_d13_responder_cancel_mid_payload_on_a_request_stream_ends_it(client: Connection) -> None:
    stream_id = client.request_stream(b"", initial_n=2)
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"part", None, True, False, True), CancelFrame(stream_id))
    assert no_text(client.events()) == [ErrorReceived(stream_id, ErrorCode.CANCELED, "")]
    assert client.data_to_send() == []
    assert client.stream_count == 0


def test_fr8_requester_cancel_mid_payload_on_a_channel_ends_it(server: Connection) -> None:
    open_stream_on_server(server, RequestChannelFrame(1, 1, b"first"))
    server.send_request_n(1, 2)
    server.data_to_send()
    feed(server, PayloadFrame(1, b"part", None, True, False, True), CancelFrame(1))
    assert server.events() == [CancelReceived(1)]
    assert server.stream_count == 0


def test_fr8_responder_cancel_mid_payload_on_a_channel_drops_the_partial_value(client: Connection) -> None:
    stream_id = client.request_channel(b"first", initial_n=2)
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"abandoned", None, True, False, True), CancelFrame(stream_id))
    assert client.events() == [CancelReceived(stream_id)]
    stream = client.stream(stream_id)
    assert stream is None or stream.reassembly is None
    feed(client, PayloadFrame(stream_id, b"fresh", None, False, False, True))
    assert b"abandoned" not in b"".join(
        event.data for event in client.events() if isinstance(event, PayloadReceived)
    )


def limited_server(limit: int) -> Connection:
    return make_server(ConnectionConfig(max_inbound_payload_size=limit))


def test_fr9_request_over_the_limit_gets_invalid_and_nothing_more_is_buffered() -> None:
    server = limited_server(100)
    feed(server, RequestResponseFrame(1, b"a" * 40, b"m" * 20, True))
    feed(server, PayloadFrame(1, b"b" * 40, None, True, False, True))  # 100 bytes: still fine
    assert server.data_to_send() == []
    feed(server, PayloadFrame(1, b"c", None, True, False, True))  # 101 bytes
    assert no_text(frames_out(server)) == [ErrorFrame(1, ErrorCode.INVALID)]
    assert server.stream_count == 0
    server.events()
    feed(
        server,
        PayloadFrame(1, b"d" * 50, None, True, False, True),
        PayloadFrame(1, b"e", None, False, False, True),
    )
    assert server.events() == []
    assert server.data_to_send() == []
    assert server.stream_count == 0


def test_fr9_first_fragment_over_the_limit_gets_invalid() -> None:
    server = limited_server(10)
    feed(server, RequestStreamFrame(1, 1, b"x" * 11, None, True))
    assert no_text(frames_out(server)) == [ErrorFrame(1, ErrorCode.INVALID)]
    assert server.stream_count == 0


def test_fr9_message_of_exactly_the_limit_is_accepted() -> None:
    server = limited_server(10)
    feed(
        server,
        RequestResponseFrame(1, b"x" * 5, None, True),
        PayloadFrame(1, b"y" * 5, None, False, False, True),
    )
    assert server.events() == [
        RequestReceived(1, RequestKind.REQUEST_RESPONSE, b"x" * 5 + b"y" * 5, None, 0, False)
    ]


def test_fr9_request_over_the_limit_reports_nothing_to_the_driver() -> None:
    server = limited_server(10)
    feed(
        server,
        RequestStreamFrame(1, 1, b"x" * 8, None, True),
        PayloadFrame(1, b"y" * 8, None, True, False, True),
    )
    assert server.events() == []


def test_fr9_value_over_the_limit_makes_the_requester_cancel() -> None:
    client = make_client(ConnectionConfig(max_inbound_payload_size=10))
    stream_id = client.request_stream(b"", initial_n=5)
    client.data_to_send()
    feed(client, PayloadFrame(stream_id, b"x" * 8, None, True, False, True))
    feed(client, PayloadFrame(stream_id, b"y" * 8, None, True, False, True))
    assert frames_out(client) == [CancelFrame(stream_id)]
    assert no_text(client.events()) == [ErrorReceived(stream_id, ErrorCode.INVALID, "")]
    feed(client, PayloadFrame(stream_id, b"z", None, False, False, True))
    assert client.events() == []
    assert client.data_to_send() == []


def test_fr4_request_n_during_request_reassembly_is_not_reported_before_the_request(
    server: Connection,
) -> None:
    feed(server, RequestStreamFrame(1, 1, b"a", None, True), RequestNFrame(1, 5))
    assert server.events() == []
    feed(server, PayloadFrame(1, b"b", None, False, False, True))
    events = server.events()
    assert events[0] == RequestReceived(1, RequestKind.REQUEST_STREAM, b"ab", None, 1, False)

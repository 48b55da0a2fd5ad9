"""A client Connection and a server Connection wired together in memory (after h2's test_interacting_stacks).

Each test acts on both sides and lets :class:`support.protocol_helpers.Pair` move the frames.
"""

from __future__ import annotations

import itertools
import random

import pytest

from aiorsocket.errors import ErrorCode
from aiorsocket.frames import (
    ErrorFrame,
    KeepaliveFrame,
    PayloadFrame,
    RequestResponseFrame,
    decode_frame,
    encode_frame,
)
from aiorsocket.protocol import (
    ConnectionClosed,
    ConnectionConfig,
    PayloadReceived,
    RequestKind,
    RequestNReceived,
    RequestReceived,
    SetupReceived,
)
from support.protocol_helpers import Pair, no_text

MIB = 1024 * 1024
KIB_64 = 64 * 1024


def wire_sizes(pair: Pair) -> list[int]:
    return [len(encode_frame(frame)) for frame in pair.c2s + pair.s2c]


def test_setup_handshake_between_real_peers() -> None:
    config = ConnectionConfig(
        keepalive_interval=5.0, max_lifetime=15.0, data_mime="application/json", setup_data=b"creds"
    )
    pair = Pair(config, auto_accept=False)
    pair.deliver(to_server=1)
    events = pair.take_server_events()
    assert len(events) == 1
    assert isinstance(events[0], SetupReceived)
    setup = events[0].setup
    assert (setup.keepalive_interval, setup.max_lifetime, setup.data_mime, setup.data) == (
        5000,
        15000,
        "application/json",
        b"creds",
    )
    pair.server.reject_setup(ErrorCode.REJECTED_SETUP, "who are you?")
    pair.pump()
    assert pair.take_client_events() == [ConnectionClosed(ErrorCode.REJECTED_SETUP, "who are you?", True)]
    assert pair.client.is_closed
    assert pair.server.is_closed


def test_fr_round_trip_of_1_mib_with_64_kib_fragments() -> None:
    config = ConnectionConfig(fragment_size=KIB_64)
    pair = Pair(config, config)
    pair.pump()
    pair.take_server_events()
    rng = random.Random(1)
    request = rng.randbytes(MIB)
    request_md = rng.randbytes(100_000)  # metadata spanning two fragments
    response = rng.randbytes(MIB)
    stream_id = pair.client.request_response(request, request_md)
    pair.pump()
    assert pair.take_server_events() == [
        RequestReceived(stream_id, RequestKind.REQUEST_RESPONSE, request, request_md, 0, False)
    ]
    pair.server.send_payload(stream_id, response, b"")
    pair.pump()
    assert pair.take_client_events() == [PayloadReceived(stream_id, response, b"", True, True)]
    sizes = wire_sizes(pair)
    assert max(sizes) <= KIB_64
    # 1 MiB + 100,000 bytes of metadata needs 18 frames of 64 KiB; 1 MiB alone needs 17.
    request_frames = [frame for frame in pair.c2s if frame.stream_id == stream_id]
    response_frames = [frame for frame in pair.s2c if frame.stream_id == stream_id]
    assert len(request_frames) == 18
    assert len(response_frames) == 17
    assert [getattr(frame, "follows", None) for frame in request_frames] == [True] * 17 + [False]
    assert [getattr(frame, "follows", None) for frame in response_frames] == [True] * 16 + [False]
    assert all(isinstance(frame, PayloadFrame) for frame in request_frames[1:] + response_frames)
    assert isinstance(pair.c2s[1], RequestResponseFrame)
    assert pair.c2s[1].follows
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_fr_large_channel_both_ways_with_fragmentation() -> None:
    config = ConnectionConfig(fragment_size=1000)
    pair = Pair(config, config)
    pair.pump()
    pair.take_server_events()
    blobs = [bytes([index]) * (5000 + index) for index in range(4)]
    stream_id = pair.client.request_channel(blobs[0], b"m" * 2500, initial_n=2)
    pair.pump()
    assert pair.take_server_events() == [
        RequestReceived(stream_id, RequestKind.REQUEST_CHANNEL, blobs[0], b"m" * 2500, 2, False)
    ]
    pair.server.send_request_n(stream_id, 3)
    pair.server.send_payload(stream_id, blobs[1])
    pair.server.send_payload(stream_id, blobs[2], complete=True)
    pair.pump()
    assert pair.take_client_events() == [
        RequestNReceived(stream_id, 3),
        PayloadReceived(stream_id, blobs[1], None, True, False),
        PayloadReceived(stream_id, blobs[2], None, True, True),
    ]
    for blob in blobs[1:]:
        pair.client.send_payload(stream_id, blob)
    pair.client.send_complete(stream_id)
    pair.pump()
    assert pair.take_server_events() == [
        PayloadReceived(stream_id, blob, None, True, False) for blob in blobs[1:]
    ] + [PayloadReceived(stream_id, b"", None, False, True)]
    assert max(wire_sizes(pair)) <= 1000
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_fl4_fragments_of_different_streams_may_interleave() -> None:
    config = ConnectionConfig(fragment_size=64)
    pair = Pair(config, config)
    pair.pump()
    first = pair.client.request_stream(b"", initial_n=1)
    second = pair.client.request_stream(b"", initial_n=1)
    pair.pump()
    pair.take_server_events()
    pair.server.send_payload(first, b"A" * 500, complete=True)
    pair.server.send_payload(second, b"B" * 400, complete=True)
    by_stream: dict[int, list[bytes]] = {first: [], second: []}
    for buf in pair.server.data_to_send():
        by_stream[decode_frame(buf).stream_id].append(buf)
    # Deliver round-robin: order kept within each stream only (FL-4).
    for buf in itertools.chain.from_iterable(itertools.zip_longest(*by_stream.values())):
        if buf is not None:
            pair.client.receive_frame(buf, 0.0)
    assert sorted(pair.client.events(), key=lambda event: getattr(event, "stream_id", 0)) == [
        PayloadReceived(first, b"A" * 500, None, True, True),
        PayloadReceived(second, b"B" * 400, None, True, True),
    ]
    assert pair.client.stream_count == 0


def test_many_concurrent_streams_of_every_kind_finish_cleanly(pair: Pair) -> None:
    kinds = itertools.cycle(["response", "fnf", "stream", "channel"])
    opened: dict[int, str] = {}
    for index in range(40):
        kind = next(kinds)
        data = f"req-{index}".encode()
        if kind == "response":
            opened[pair.client.request_response(data)] = kind
        elif kind == "fnf":
            pair.client.request_fire_and_forget(data)
        elif kind == "stream":
            opened[pair.client.request_stream(data, initial_n=3)] = kind
        else:
            opened[pair.client.request_channel(data, initial_n=3, complete=True)] = kind
    pair.pump()
    received = pair.take_server_events()
    assert len(received) == 40
    for event in received:
        assert isinstance(event, RequestReceived)
        if event.kind is RequestKind.REQUEST_RESPONSE:
            pair.server.send_payload(event.stream_id, event.data.upper())
        elif event.kind in (RequestKind.REQUEST_STREAM, RequestKind.REQUEST_CHANNEL):
            for _ in range(3):
                pair.server.send_payload(event.stream_id, event.data)
            pair.server.send_complete(event.stream_id)
    pair.pump()
    answers = pair.take_client_events()
    completions = [event for event in answers if isinstance(event, PayloadReceived) and event.complete]
    assert sorted(event.stream_id for event in completions) == sorted(opened)
    assert pair.client.stream_count == pair.server.stream_count == 0


def test_server_initiated_requests_are_served_by_the_client(pair: Pair) -> None:
    stream_id = pair.server.request_stream(b"from server", initial_n=2)
    assert stream_id == 2
    pair.pump()
    assert pair.take_client_events() == [
        RequestReceived(stream_id, RequestKind.REQUEST_STREAM, b"from server", None, 2, False)
    ]
    pair.client.send_payload(stream_id, b"1")
    pair.client.send_payload(stream_id, b"2", complete=True)
    pair.pump()
    assert pair.take_server_events() == [
        PayloadReceived(stream_id, b"1", None, True, False),
        PayloadReceived(stream_id, b"2", None, True, True),
    ]


def run_clock(pair: Pair, until: float, *, server_answers: bool = True) -> None:
    """Advance time to ``until``, firing every timer on both sides and moving the frames."""
    while True:
        deadlines = [t for t in (pair.client.next_timer(), pair.server.next_timer()) if t is not None]
        if not deadlines or min(deadlines) > until:
            break
        pair.now = min(deadlines)
        pair.client.handle_timer(pair.now)
        pair.server.handle_timer(pair.now)
        if server_answers:
            pair.pump()
        else:
            pair.deliver(to_server=1000)  # frames reach the server; nothing comes back
    pair.now = until


def test_ka_keepalives_keep_a_quiet_connection_alive() -> None:
    config = ConnectionConfig(keepalive_interval=10.0, max_lifetime=30.0)
    pair = Pair(config)
    pair.pump()
    run_clock(pair, until=10_000.0)
    assert not pair.client.is_closed
    assert not pair.server.is_closed
    keepalives = [frame for frame in pair.c2s if isinstance(frame, KeepaliveFrame)]
    answers = [frame for frame in pair.s2c if isinstance(frame, KeepaliveFrame)]
    assert len(keepalives) == len(answers) == 1000
    assert all(frame.respond for frame in keepalives)
    assert not any(frame.respond for frame in answers)


def test_ka4_client_gives_up_on_a_server_that_stops_answering() -> None:
    config = ConnectionConfig(keepalive_interval=10.0, max_lifetime=30.0)
    pair = Pair(config)
    pair.pump()
    run_clock(pair, until=100.0)
    pair.take_client_events()
    run_clock(pair, until=1000.0, server_answers=False)
    closed = [event for event in pair.take_client_events() if isinstance(event, ConnectionClosed)]
    assert no_text(closed) == [ConnectionClosed(ErrorCode.CONNECTION_ERROR, "", False)]
    assert pair.client.is_closed
    # The client's ERROR reached the server, which closed too.
    assert no_text(pair.c2s[-1:]) == [ErrorFrame(0, ErrorCode.CONNECTION_ERROR)]
    assert pair.server.is_closed


@pytest.mark.parametrize("fragment_size", [0, 64, 200])
def test_echo_stream_of_many_values(fragment_size: int) -> None:
    config = ConnectionConfig(fragment_size=fragment_size)
    pair = Pair(config, config)
    pair.pump()
    pair.take_server_events()
    stream_id = pair.client.request_stream(b"count", initial_n=4)
    pair.pump()
    pair.take_server_events()
    values = [bytes([index % 256]) * (index * 7) for index in range(100)]
    sent = 0
    credit = 4
    received: list[bytes] = []
    while sent < len(values) or pair.client.stream_count != 0:
        while credit and sent < len(values):
            pair.server.send_payload(stream_id, values[sent], complete=sent == len(values) - 1)
            sent += 1
            credit -= 1
        pair.pump()
        for event in pair.take_client_events():
            assert isinstance(event, PayloadReceived)
            received.append(event.data)
        if len(received) % 4 == 0 and len(received) < len(values):
            pair.client.send_request_n(stream_id, 4)
            pair.pump()
            credit += sum(
                isinstance(event, RequestNReceived) and event.n for event in pair.take_server_events()
            )
    assert received == values
    assert pair.server.stream_count == 0

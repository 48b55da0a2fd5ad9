"""The u24 length-prefix deframer for byte-stream transports (§4, FL-1)."""

from __future__ import annotations

import pytest

from aiorsocket.errors import FrameTooLargeError, LocalProtocolError
from aiorsocket.frames import (
    CancelFrame,
    Deframer,
    PayloadFrame,
    RequestNFrame,
    decode_frame,
    encode_frame_with_length,
)

FRAMES = [RequestNFrame(1, 5), CancelFrame(3), PayloadFrame(5, b"x" * 300, b"m", next=True)]
STREAM = b"".join(encode_frame_with_length(f) for f in FRAMES)


def decode_all(views: list[memoryview]) -> list[object]:
    return [decode_frame(v) for v in views]


def test_s4_many_frames_in_one_read() -> None:
    deframer = Deframer()
    assert decode_all(deframer.feed(STREAM)) == FRAMES
    assert deframer.buffered == 0


def test_s4_frames_split_across_every_possible_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        deframer = Deframer()
        out = deframer.feed(STREAM[:cut]) + deframer.feed(STREAM[cut:])
        assert decode_all(out) == FRAMES, cut
        assert deframer.buffered == 0


def test_s4_one_byte_at_a_time() -> None:
    deframer = Deframer()
    out: list[memoryview] = []
    for i in range(len(STREAM)):
        out += deframer.feed(STREAM[i : i + 1])
    assert decode_all(out) == FRAMES


def test_whole_frames_from_bytes_are_views_without_copy() -> None:
    data = encode_frame_with_length(CancelFrame(1))
    (view,) = Deframer().feed(data)
    assert view.obj is data


def test_frames_from_a_mutable_buffer_are_copied() -> None:
    data = bytearray(encode_frame_with_length(CancelFrame(1)))
    (view,) = Deframer().feed(data)
    data[:] = b"\0" * len(data)
    assert decode_frame(view) == CancelFrame(1)


def test_partial_frame_is_reported_as_buffered() -> None:
    deframer = Deframer()
    assert deframer.feed(STREAM[:-1]) != []
    assert deframer.buffered > 0


def test_fl1_prefix_over_the_limit_fails_before_buffering() -> None:
    deframer = Deframer(max_frame_size=100)
    with pytest.raises(FrameTooLargeError) as info:
        deframer.feed(b"\x00\x00\x65" + b"\x00" * 10)
    assert info.value.rule == "FL-1"
    assert info.value.is_connection_level
    assert deframer.buffered == 0


def test_fl1_prefix_over_the_limit_mid_stream_is_found_from_the_prefix_alone() -> None:
    deframer = Deframer(max_frame_size=1000)
    assert decode_all(deframer.feed(encode_frame_with_length(CancelFrame(1)) + b"\x01")) == [
        CancelFrame(1)
    ]
    with pytest.raises(FrameTooLargeError):
        deframer.feed(b"\x00\x00")


def test_fl1_frame_at_the_limit_is_accepted() -> None:
    frame = PayloadFrame(1, b"a" * 94, next=True)
    assert decode_all(Deframer(max_frame_size=100).feed(encode_frame_with_length(frame))) == [frame]


def test_max_frame_size_must_fit_u24() -> None:
    with pytest.raises(LocalProtocolError):
        Deframer(max_frame_size=0x1000000)
    with pytest.raises(LocalProtocolError):
        Deframer(max_frame_size=0)


def test_zero_length_frame_is_passed_to_the_decoder_which_rejects_it() -> None:
    (view,) = Deframer().feed(b"\x00\x00\x00")
    assert len(view) == 0


def test_fl1_frames_before_an_oversized_prefix_are_delivered_then_the_fault_raised() -> None:
    deframer = Deframer(max_frame_size=100)
    whole = encode_frame_with_length(CancelFrame(1))
    assert decode_all(deframer.feed(whole + b"\x00\x01\x00")) == [CancelFrame(1)]
    assert isinstance(deframer.error, FrameTooLargeError)
    with pytest.raises(FrameTooLargeError):
        deframer.feed(b"")

"""The retained-frame store and position rules of resumption (RE-1..RE-3, RE-6, RE-7, D-14)."""

from __future__ import annotations

import pytest

from aiorsocket.frames import (
    CancelFrame,
    ExtFrame,
    KeepaliveFrame,
    MetadataPushFrame,
    PayloadFrame,
    RequestNFrame,
    encode_frame,
)
from aiorsocket.protocol.resume import RetainedCapExceeded, RetainedFrames, is_tracked


def test_d14_every_frame_off_stream_zero_is_tracked_as_rsocket_java_does() -> None:
    assert is_tracked(encode_frame(PayloadFrame(1, b"x", next=True)))
    assert is_tracked(encode_frame(RequestNFrame(3, 1)))
    assert is_tracked(encode_frame(CancelFrame(0x7FFFFFFF)))
    assert is_tracked(encode_frame(ExtFrame(5, 1)))
    assert not is_tracked(encode_frame(KeepaliveFrame(0)))
    assert not is_tracked(encode_frame(MetadataPushFrame(b"m")))
    assert not is_tracked(encode_frame(ExtFrame(0, 1)))


def test_re2_positions_count_frame_bytes() -> None:
    store = RetainedFrames(cap=1000)
    store.add(b"a" * 10)
    store.add(b"b" * 7)
    assert (store.position, store.first_available, store.retained_bytes) == (17, 0, 17)


def test_re3_release_drops_whole_frames_the_peer_received() -> None:
    store = RetainedFrames(cap=1000)
    for size in (10, 20, 30):
        store.add(b"x" * size)
    store.release(29)  # inside the second frame: only the first is done
    assert (store.first_available, store.retained_bytes) == (10, 50)
    store.release(60)
    assert (store.first_available, store.retained_bytes) == (60, 0)


def test_re6_frames_after_a_position_are_what_the_peer_missed() -> None:
    store = RetainedFrames(cap=1000)
    frames = [b"1" * 5, b"2" * 6, b"3" * 7]
    for frame in frames:
        store.add(frame)
    assert store.frames_after(5) == frames[1:]
    assert store.frames_after(18) == []


@pytest.mark.parametrize("received", [-1, 19, 7])
def test_re6_infeasible_positions_are_refused(received: int) -> None:
    store = RetainedFrames(cap=1000)
    for frame in (b"1" * 5, b"2" * 6, b"3" * 7):
        store.add(frame)
    # Before what we hold, past what we sent, or inside a frame.
    assert store.frames_after(received) is None


def test_re6_a_position_before_what_we_still_hold_is_refused() -> None:
    store = RetainedFrames(cap=1000)
    store.add(b"1" * 5)
    store.add(b"2" * 6)
    store.release(5)
    assert store.frames_after(0) is None
    assert store.frames_after(5) == [b"2" * 6]


def test_retained_bytes_never_pass_the_cap() -> None:
    store = RetainedFrames(cap=20)
    store.add(b"x" * 15)
    with pytest.raises(RetainedCapExceeded, match="cap of 20 bytes"):
        store.add(b"y" * 6)
    assert store.retained_bytes == 15
    store.release(15)
    store.add(b"y" * 20)
    assert store.retained_bytes == 20

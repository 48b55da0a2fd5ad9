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
    ResumeFrame,
    decode_frame,
    encode_frame,
)
from aiorsocket.protocol.resume import (
    RetainedFrames,
    is_tracked,
    keepalive_position,
    resume_ok_refusal,
    resume_refusal,
    with_keepalive_position,
)


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


def test_retained_bytes_never_pass_the_cap_the_oldest_frames_go() -> None:
    store = RetainedFrames(cap=20)
    store.add(b"x" * 15)
    store.add(b"y" * 6)
    assert (store.retained_bytes, store.first_available, store.position, store.evicted) == (6, 15, 21, 15)
    assert store.peak_bytes == 15
    store.add(b"z" * 30)  # larger than the cap on its own: nothing can be kept
    assert (store.retained_bytes, store.first_available, store.evicted) == (0, 51, 51)


def test_ka5_keepalive_position_is_read_and_written_in_place() -> None:
    frame = encode_frame(KeepaliveFrame(0, b"data", True))
    assert keepalive_position(frame) == 0
    patched = with_keepalive_position(frame, 123456789)
    assert keepalive_position(patched) == 123456789
    decoded = decode_frame(patched)
    assert decoded == KeepaliveFrame(123456789, b"data", True)
    assert keepalive_position(encode_frame(MetadataPushFrame(b"m" * 20))) is None


def _store(*sizes: int) -> RetainedFrames:
    store = RetainedFrames(cap=1000)
    for size in sizes:
        store.add(b"f" * size)
    return store


def test_re6_server_accepts_positions_inside_what_both_sides_hold() -> None:
    store = _store(10, 10, 10)
    store.release(10)
    resume = ResumeFrame(b"t", last_received_server_position=10, first_available_client_position=40)
    assert resume_refusal(resume, store, implied_position=50) is None


def test_re6_server_refuses_when_the_client_dropped_frames_it_never_received() -> None:
    resume = ResumeFrame(b"t", last_received_server_position=0, first_available_client_position=60)
    message = resume_refusal(resume, _store(10), implied_position=50)
    assert "frames in between are lost (RE-6)" in (message or "")


def test_re6_server_refuses_when_the_cap_dropped_what_the_client_misses() -> None:
    store = RetainedFrames(cap=15)
    store.add(b"a" * 10)
    store.add(b"b" * 10)  # evicts the first frame
    resume = ResumeFrame(b"t", last_received_server_position=0, first_available_client_position=0)
    message = resume_refusal(resume, store, implied_position=0)
    assert "retained-frame cap (15 bytes)" in (message or "")


def test_re6_server_refuses_a_client_claiming_bytes_never_sent() -> None:
    resume = ResumeFrame(b"t", last_received_server_position=11, first_available_client_position=0)
    message = resume_refusal(resume, _store(10), implied_position=0)
    assert "past the 10 bytes" in (message or "")


def test_re7_client_checks_the_servers_position() -> None:
    store = _store(10, 10)
    assert resume_ok_refusal(10, store) is None
    assert "past the 20 bytes" in (resume_ok_refusal(21, store) or "")
    store.release(10)
    assert "unacknowledged (RE-7)" in (resume_ok_refusal(0, store) or "")

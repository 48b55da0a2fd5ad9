"""Hypothesis round trips for every frame type: decode(encode(f)) == f, and bytes are stable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiorsocket.frames import Deframer, Frame, decode_frame, encode_frame, encode_frame_with_length
from support.frame_strategies import FRAME_STRATEGIES, any_frame


@pytest.mark.parametrize("kind", sorted(FRAME_STRATEGIES))
def test_every_frame_type_round_trips(kind: str) -> None:
    @given(FRAME_STRATEGIES[kind])
    def check(frame: Frame) -> None:
        wire = encode_frame(frame)
        decoded = decode_frame(wire)
        assert decoded == frame
        assert type(decoded) is type(frame)
        assert encode_frame(decoded) == wire

    check()


@given(st.lists(any_frame, max_size=8), st.data())
def test_s4_deframer_returns_every_frame_for_any_chunking(frames: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(encode_frame_with_length(f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    deframer = Deframer()
    out = []
    start = 0
    for cut in [*cuts, len(stream)]:
        out += deframer.feed(stream[start:cut])
        start = cut
    assert [decode_frame(v) for v in out] == frames
    assert deframer.buffered == 0

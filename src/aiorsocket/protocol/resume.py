"""Resumption bookkeeping, sans-IO: byte positions, the retained-frame store and the
feasibility checks of the resume handshake (checklist §3.14).

Positions count bytes of *tracked* frames, without any transport length prefix
(RE-2).  Which frames are tracked follows rsocket-java rather than the spec's
list: every frame on a stream other than 0 (D-14), so positions agree with the
peers that implement resumption.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Final

from ..errors import LocalProtocolError
from ..frames import ResumeFrame
from ..frames.types import FrameType

_KEEPALIVE_TYPE: Final = int(FrameType.KEEPALIVE)
_POSITION: Final = struct.Struct(">Q")
_POSITION_OFFSET: Final = 6
_MAX_POSITION: Final = (1 << 63) - 1


def is_tracked(frame: bytes | bytearray | memoryview) -> bool:
    """Whether ``frame`` counts towards resume positions: any stream id but 0 (D-14)."""
    return bool(frame[0] & 0x7F or frame[1] or frame[2] or frame[3])


def keepalive_position(frame: bytes | bytearray | memoryview) -> int | None:
    """The Last Received Position of an untracked frame that is a KEEPALIVE (KA-5), else None."""
    if len(frame) < _POSITION_OFFSET + _POSITION.size or frame[4] >> 2 != _KEEPALIVE_TYPE:
        return None
    return int(_POSITION.unpack_from(frame, _POSITION_OFFSET)[0] & _MAX_POSITION)


def with_keepalive_position(frame: bytes, position: int) -> bytes:
    """``frame`` (a KEEPALIVE) carrying ``position`` as its Last Received Position (KA-5)."""
    end = _POSITION_OFFSET + _POSITION.size
    return frame[:_POSITION_OFFSET] + _POSITION.pack(position) + frame[end:]


class RetainedFrames:
    """Tracked frames we sent, kept until the peer says it received them (RE-3).

    ``position`` is how many tracked bytes we have sent; ``first_available`` is the
    position of the oldest frame still held.  The store never holds more than ``cap``
    bytes: past it the oldest frames go (``evicted`` counts their bytes), and a resume
    that would need them is refused by the feasibility checks below instead of
    memory growing without a bound.
    """

    __slots__ = ("_cap", "_frames", "evicted", "first_available", "peak_bytes", "position", "retained_bytes")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise LocalProtocolError(f"the retained-frame cap must be at least 1 byte, not {cap}")
        self._cap = cap
        self._frames: deque[bytes] = deque()
        self.position = 0
        self.first_available = 0
        self.retained_bytes = 0
        self.peak_bytes = 0
        self.evicted = 0

    @property
    def cap(self) -> int:
        return self._cap

    def add(self, frame: bytes) -> None:
        size = len(frame)
        self._frames.append(frame)
        self.position += size
        retained = self.retained_bytes + size
        if retained > self._cap:
            frames = self._frames
            while retained > self._cap:
                dropped = len(frames.popleft())
                self.first_available += dropped
                self.evicted += dropped
                retained -= dropped
        self.retained_bytes = retained
        if retained > self.peak_bytes:
            self.peak_bytes = retained

    def release(self, received: int) -> None:
        """Drop every frame the peer reports received up to position ``received`` (KA-5)."""
        frames = self._frames
        while frames and self.first_available + len(frames[0]) <= received:
            size = len(frames.popleft())
            self.first_available += size
            self.retained_bytes -= size

    def frames_after(self, received: int) -> list[bytes] | None:
        """The frames to send again so the peer, having ``received`` bytes, misses nothing.

        None when that is impossible: the peer claims bytes we never sent, or we no
        longer hold what it is missing, or ``received`` falls inside a frame.
        """
        if not self.first_available <= received <= self.position:
            return None
        self.release(received)
        if received != self.first_available:
            return None  # inside a frame: the peer's count cannot be right
        return list(self._frames)


def resume_refusal(frame: ResumeFrame, retained: RetainedFrames, implied_position: int) -> str | None:
    """Server: why the client's RESUME cannot be honoured (RE-6), or None when it can."""
    client_first = frame.first_available_client_position
    client_received = frame.last_received_server_position
    if client_first > implied_position:
        return (
            f"the client holds frames only from position {client_first}, but this server has "
            f"received up to {implied_position}: frames in between are lost (RE-6)"
        )
    if client_received < retained.first_available:
        return (
            f"the client received up to position {client_received}, but this server holds frames "
            f"only from {retained.first_available}: more than the retained-frame cap "
            f"({retained.cap} bytes) went unacknowledged (RE-6)"
        )
    if client_received > retained.position:
        return (
            f"the client claims position {client_received}, past the {retained.position} bytes "
            "this server sent (RE-6)"
        )
    return None


def resume_ok_refusal(server_received: int, retained: RetainedFrames) -> str | None:
    """Client: why the server's RESUME_OK position cannot be resumed from (RE-7), or None."""
    if server_received < retained.first_available:
        return (
            f"the server received up to position {server_received}, but this client holds frames "
            f"only from {retained.first_available}: more than the retained-frame cap "
            f"({retained.cap} bytes) went unacknowledged (RE-7)"
        )
    if server_received > retained.position:
        return (
            f"the server claims position {server_received}, past the {retained.position} bytes "
            "this client sent (RE-7)"
        )
    return None

"""Resumption bookkeeping: byte positions and the retained-frame store (checklist §3.14).

Positions count bytes of *tracked* frames, without any transport length prefix
(RE-2).  Which frames are tracked follows rsocket-java rather than the spec's
list: every frame on a stream other than 0 (D-14), so positions agree with the
peers that implement resumption.
"""

from __future__ import annotations

from collections import deque

from ..errors import LocalProtocolError


def is_tracked(frame: bytes | bytearray | memoryview) -> bool:
    """Whether ``frame`` counts towards resume positions: any stream id but 0 (D-14)."""
    return bool(frame[0] & 0x7F or frame[1] or frame[2] or frame[3])


class RetainedCapExceeded(LocalProtocolError):
    """Keeping one more sent frame for a possible resume would pass the configured byte cap."""


class RetainedFrames:
    """Tracked frames we sent, kept until the peer says it received them (RE-3).

    ``position`` is how many tracked bytes we have sent; ``first_available`` is the
    position of the oldest frame still held.  The store never holds more than
    ``cap`` bytes: adding past it raises :class:`RetainedCapExceeded`, and the
    connection must then stop being resumable rather than grow.
    """

    __slots__ = ("_cap", "_frames", "first_available", "position", "retained_bytes")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise LocalProtocolError(f"the retained-frame cap must be at least 1 byte, not {cap}")
        self._cap = cap
        self._frames: deque[bytes] = deque()
        self.position = 0
        self.first_available = 0
        self.retained_bytes = 0

    @property
    def cap(self) -> int:
        return self._cap

    def add(self, frame: bytes) -> None:
        size = len(frame)
        if self.retained_bytes + size > self._cap:
            raise RetainedCapExceeded(
                f"keeping {self.retained_bytes + size} bytes of unacknowledged frames for resumption "
                f"would pass the cap of {self._cap} bytes"
            )
        self._frames.append(frame)
        self.retained_bytes += size
        self.position += size

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

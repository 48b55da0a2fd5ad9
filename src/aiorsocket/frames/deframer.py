"""Split a byte stream (TCP, Unix sockets) into frames by their u24 length prefix (§4)."""

from __future__ import annotations

import struct

from ..errors import ErrorCode, FaultLevel, FrameTooLargeError, LocalProtocolError
from .types import MAX_FRAME_SIZE

_PREFIX = 3
_PREFIX_AND_ONE = struct.Struct(">I")


class Deframer:
    """Incremental deframer: feed it whatever a read returned, get whole frames back.

    Frames that arrive whole inside one read are returned as memoryviews into
    that read's bytes, with no copy; only a frame that straddles reads is
    assembled in an internal buffer.  A length prefix over ``max_frame_size``
    raises :class:`FrameTooLargeError` as soon as the prefix is read, before any
    of that frame is buffered, so a hostile peer cannot make us hold more than
    ``max_frame_size`` plus one read.  After that error the stream has lost its
    framing and the connection must be closed.
    """

    __slots__ = ("_buffer", "_error", "_max_frame_size", "_needed")

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        if not 0 < max_frame_size <= MAX_FRAME_SIZE:
            raise LocalProtocolError(
                f"max_frame_size must be in 1..{MAX_FRAME_SIZE} (a u24 length), not {max_frame_size}"
            )
        self._max_frame_size = max_frame_size
        self._buffer = bytearray()
        # Bytes the buffer must hold before the pending frame is whole (0: unknown yet).
        self._needed = 0
        self._error: FrameTooLargeError | None = None

    @property
    def max_frame_size(self) -> int:
        return self._max_frame_size

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back; non-zero at EOF means a truncated frame."""
        return len(self._buffer)

    @property
    def error(self) -> FrameTooLargeError | None:
        """The framing fault found after the frames the last :meth:`feed` returned, if any."""
        return self._error

    def feed(self, data: bytes | bytearray | memoryview) -> list[memoryview]:
        """Every frame completed by ``data``, in order, without their length prefixes.

        When an oversized prefix follows whole frames in the same read, those frames
        are returned and the fault waits in :attr:`error` (raised by the next call):
        frames that arrived intact before the fault are still the peer's to be served.
        """
        if self._error is not None:
            raise self._error
        # A caller-owned mutable buffer may change after we return; bytes from a read
        # (immutable) are safe to hand out as views.
        copy = isinstance(data, bytearray | memoryview)
        if self._buffer:
            return self._feed_buffered(memoryview(data), copy)
        return self._split(memoryview(data), copy, [])

    def _feed_buffered(self, view: memoryview, copy: bool) -> list[memoryview]:
        """Finish the frame that straddles reads from the head of ``view``, then split the rest
        in place: only the straddling frame is ever copied, never the whole read."""
        buffer = self._buffer
        used = 0
        if not self._needed:
            # The length prefix itself was cut: complete it first.
            used = min(_PREFIX - len(buffer), len(view))
            buffer += view[:used]
            if len(buffer) < _PREFIX:
                return []
            length = (buffer[0] << 16) | (buffer[1] << 8) | buffer[2]
            if length > self._max_frame_size:
                raise self._too_large(length)
            self._needed = _PREFIX + length
        missing = self._needed - len(buffer)
        if len(view) - used < missing:
            buffer += view[used:]
            return []
        buffer += view[used : used + missing]
        # The buffer is handed over whole to this frame; the next partial frame gets a new one.
        self._buffer = bytearray()
        self._needed = 0
        return self._split(view[used + missing :], copy, [memoryview(buffer)[_PREFIX:]])

    def _too_large(self, length: int) -> FrameTooLargeError:
        return FrameTooLargeError(
            f"length prefix announces a frame of {length} bytes; the limit is {self._max_frame_size}",
            rule="FL-1",
            level=FaultLevel.CONNECTION,
            error_code=ErrorCode.CONNECTION_ERROR,
        )

    def _split(self, view: memoryview, copy: bool, frames: list[memoryview]) -> list[memoryview]:
        """Append the whole frames in ``view`` to ``frames``; keep a trailing partial one."""
        size = len(view)
        offset = 0
        limit = self._max_frame_size
        append = frames.append
        unpack = _PREFIX_AND_ONE.unpack_from
        while (remaining := size - offset) >= _PREFIX:
            if remaining > _PREFIX:
                # One 4-byte read costs less than three indexed ones.
                length = unpack(view, offset)[0] >> 8
            else:
                length = (view[offset] << 16) | (view[offset + 1] << 8) | view[offset + 2]
            if length > limit:
                if not frames:
                    raise self._too_large(length)
                self._error = self._too_large(length)
                return frames
            end = offset + _PREFIX + length
            if end > size:
                self._needed = end - offset
                break
            frame = view[offset + _PREFIX : end]
            append(memoryview(bytes(frame)) if copy else frame)
            offset = end
        if offset < size:
            self._buffer += view[offset:]
        return frames
